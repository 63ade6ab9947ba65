"""The shared vocabulary: format, loader, model, device and status names (see docs/design.md).

These strings appear in the CLI, in results files and in reports; other tools read them, so they
change only together with the docs.
"""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    PASS = "pass"
    MISMATCH = "mismatch"
    LOAD_ERROR = "load-error"
    SAVE_ERROR = "save-error"
    CRASH = "crash"
    TIMEOUT = "timeout"
    UNSUPPORTED = "unsupported"

    def __str__(self) -> str:  # serializes as its plain value in JSON, f-strings and tables
        return self.value


STATUSES = tuple(s.value for s in Status)
# Statuses that are a failure of compatibility (not pass, not "does not exist there").
FAILURES = tuple(s for s in STATUSES if s not in ("pass", "unsupported"))


# qat: quantization-aware (tensorflow-model-optimization), `unsupported` where tfmot cannot run.
# mirrored: built and trained under MirroredStrategy on two logical CPUs.
MODELS = ("mlp", "cnn", "rnn", "custom", "module", "qat", "mirrored")

# Loaders per format, in the order a user reaches for them: the default call first, then
# documented workarounds (argument in the name).  A loader that exists in the load version is
# always tried, even where it is expected to fail: that failure is what users need to see.
_LOAD_MODEL = (
    "keras.models.load_model",
    "keras.models.load_model[compile=False]",
    "keras.models.load_model[custom_objects]",
)
FORMAT_LOADERS: dict[str, tuple[str, ...]] = {
    "savedmodel": (
        "tf.saved_model.load",
        "keras.models.load_model",
        "keras.layers.TFSMLayer[call_endpoint=serving_default]",
    ),
    "keras-savedmodel": (
        "keras.models.load_model",
        "keras.layers.TFSMLayer",
        "keras.layers.TFSMLayer[call_endpoint=serving_default]",
        "tf.saved_model.load",
    ),
    "keras": (*_LOAD_MODEL, "keras.models.load_model[MirroredStrategy]", "h5py.File"),
    "h5": (*_LOAD_MODEL, "h5py.File"),
    "weights-h5": ("model.load_weights", "h5py.File"),
    "tf-checkpoint": (
        "tf.train.Checkpoint.restore",
        "tf.train.load_checkpoint",
        "tf.train.CheckpointManager",
        "tf.train.Checkpoint.restore[expect_partial,new_head]",
        "tf.train.Checkpoint.restore[MirroredStrategy]",
    ),
    "tf1-checkpoint": (
        "tf.compat.v1.train.import_meta_graph",
        "tf.compat.v1.train.Saver[var_list]",
        "tf.train.load_checkpoint",
    ),
    "frozen-graph": ("tf.compat.v1.import_graph_def", "tf.compat.v1.wrap_function"),
    "tflite": ("tf.lite.Interpreter", "ai_edge_litert.interpreter.Interpreter"),
    "tflite-dynamic": ("tf.lite.Interpreter", "ai_edge_litert.interpreter.Interpreter"),
    "onnx": ("onnxruntime.InferenceSession",),
}
FORMATS = tuple(FORMAT_LOADERS)

# cpu: default; cpu-noonednn: TF_ENABLE_ONEDNN_OPTS=0 (changes float results on x86);
# gpu: GPU environments, `unsupported` with the reason where no GPU is present.
DEVICES = ("cpu", "cpu-noonednn", "gpu")

# Float tolerances for predictions, as TF's own tests use them (rtol, atol per dtype).
TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-12, 1e-12),
    "float32": (1e-6, 1e-6),
    "float16": (1e-3, 1e-3),
    "bfloat16": (1e-2, 1e-2),
}

# Formats that run the model through another runtime's kernels (a grappler-optimized graph,
# TFLite, onnxruntime) sum in another order than Keras did on the save side: measured on the zoo,
# about 2e-6 absolute on float32 logits, beyond the 1e-6 of TF's own tests.  Dynamic-range
# quantization rounds every weight to int8: differences of a few 1e-2 are what it is designed
# to give.  These tolerances replace the per-dtype ones for those formats and are stated on each
# cell (rtol/atol, notes.tolerance).
FORMAT_TOLERANCES: dict[str, tuple[tuple[float, float], str]] = {
    "frozen-graph": ((1e-5, 1e-5), "graph-mode kernels (grappler fusions), float32"),
    "tflite": ((1e-5, 1e-5), "TFLite kernels, float32"),
    "onnx": ((1e-5, 1e-5), "onnxruntime kernels, float32"),
    "tflite-dynamic": ((1e-1, 1e-1), "dynamic-range quantized: int8 weights"),
    # any converted artifact of a quantized model (the `qat` zoo model's fake-quant ops become
    # real int8 arithmetic, and rounding at a quantization step boundary moves a whole step)
    "quantized": ((1e-1, 1e-1), "quantized model converted to int8 arithmetic"),
}
