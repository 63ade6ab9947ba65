"""`tflite-dynamic`: dynamic-range quantized TFLite (int8 weights, float activations)."""

from .tflite import LOADERS, saver, unsupported_reason  # noqa: F401

NAME = "tflite-dynamic"
save = saver(quantized=True)
