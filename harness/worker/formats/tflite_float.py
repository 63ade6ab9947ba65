"""`tflite`: float TFLite flatbuffer."""

from .tflite import LOADERS, saver, unsupported_reason  # noqa: F401

NAME = "tflite"
save = saver(quantized=False)
