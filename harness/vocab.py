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
# seq: the tutorial Sequential compiled with string names; multi_io: two named inputs (float,
# int ids) and two named outputs; text: string input, adapted TextVectorization (its vocabulary
# is compared); norm: adapted Normalization; mixed: the mixed_float16 policy (float16 outputs);
# custom: registered custom classes (subclassed model); custom_fn: an unregistered custom layer.
MODELS = ("mlp", "cnn", "rnn", "custom", "module", "qat", "mirrored",
          "seq", "multi_io", "text", "norm", "mixed", "custom_fn")

# Loaders per format, in the order a user reaches for them: the default call first, then
# documented workarounds (argument in the name).  A loader that exists in the load version is
# always tried, even where it is expected to fail: that failure is what users need to see.
# Custom code: the default call runs where the model's custom module is imported (a user's own
# process); [custom_objects] where nothing is registered, the classes passed keyed by class
# name; [custom_objects=registered] keyed by the name each was saved under (`tfh>CustomModel`);
# [no_custom_code] with nothing (a serving process).
_LOAD_MODEL = (
    "keras.models.load_model",
    "keras.models.load_model[compile=False]",
    "keras.models.load_model[custom_objects]",
    "keras.models.load_model[custom_objects=registered]",
    "keras.models.load_model[no_custom_code]",
)
FORMAT_LOADERS: dict[str, tuple[str, ...]] = {
    "savedmodel": (
        "tf.saved_model.load",
        "tf.saved_model.load[call]",  # the loaded object called directly: loaded(x)
        "keras.models.load_model",
        "keras.layers.TFSMLayer[call_endpoint=serving_default]",
        # TF1-style serving code (and TF Serving's C++ loader): a Session, the signature's
        # tensor names
        "tf.compat.v1.saved_model.loader.load",
    ),
    "keras-savedmodel": (
        "keras.models.load_model",
        "keras.layers.TFSMLayer",
        "keras.layers.TFSMLayer[call_endpoint=serving_default]",
        "tf.saved_model.load",
        "tf.saved_model.load[call]",
        "tf.compat.v1.saved_model.loader.load",
    ),
    # model.save("model.keras"): HDF5 under TF 2.12/2.13, the zip after
    "keras": (*_LOAD_MODEL, "keras.models.load_model[MirroredStrategy]", "h5py.File"),
    # model.save("model.keras", save_format="keras_v3"): the zip, as TF 2.12's docs ask for it
    "keras-v3": (*_LOAD_MODEL, "h5py.File"),
    "h5": (*_LOAD_MODEL, "h5py.File"),
    # model.save_weights("model_weights.h5"): Keras 2's legacy call (a save-error in Keras 3)
    "weights-h5": ("model.load_weights", "h5py.File"),
    # model.save_weights("model.weights.h5")
    "weights-h5-v3": ("model.load_weights", "h5py.File"),
    # Keras 2's TF-format model.save_weights("ckpt/weights") (no such save in Keras 3)
    "weights-tf": ("model.load_weights", "tf.train.load_checkpoint"),
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
