"""TensorFlow and Keras as this environment has them, plus the few helpers every format uses."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402


def _logical_cpus() -> int:
    """Split the CPU into logical devices when a cell needs MirroredStrategy (set by main.py
    before TF starts, only for batches that have such cells: it must happen before TF
    initializes its devices, and other cells should not run on a split CPU)."""
    n = int(os.environ.get("HARNESS_LOGICAL_CPUS", "0") or 0)
    if n > 1:
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    return n


LOGICAL_CPUS = _logical_cpus()
MIRRORED_DEVICES = ["/cpu:0", "/cpu:1"]


def mirrored_strategy():
    if LOGICAL_CPUS < 2:
        raise RuntimeError("MirroredStrategy needs the worker started with two logical CPUs")
    return tf.distribute.MirroredStrategy(MIRRORED_DEVICES)


# tf.keras is what users call: Keras 2 up to TF 2.15, Keras 3 from 2.16, and tf_keras (Keras 2)
# again when TF_USE_LEGACY_KERAS=1.  Using it keeps the worker honest to each environment.
keras = tf.keras


def _dist_version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def _keras_version() -> str:
    # tf.keras has no __version__ under Keras 2.13-2.15: ask the distribution behind it.
    found = getattr(keras, "__version__", None)
    if found:
        return str(found)
    package = "tf-keras" if keras.__name__.startswith("tf_keras") else "keras"
    return _dist_version(package) or ""


KERAS_VERSION = _keras_version()
KERAS_MAJOR = int(KERAS_VERSION.split(".")[0]) if KERAS_VERSION else 2


def versions() -> dict:
    return {
        "tf": tf.__version__,
        "keras": KERAS_VERSION,
        "keras_package": keras.__name__.split(".")[0],
        "numpy": np.__version__,
        "h5py": _dist_version("h5py"),
        "protobuf": _dist_version("protobuf"),
        "python": platform.python_version(),
        "legacy_keras": os.environ.get("TF_USE_LEGACY_KERAS", "") == "1",
        "logical_cpus": LOGICAL_CPUS or 1,
        "executable": sys.executable,
    }


def to_numpy(x) -> np.ndarray:
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def outputs_list(y) -> list[np.ndarray]:
    """Model outputs as a list: a dict (signature outputs) in key order, a list as is."""
    if isinstance(y, dict):
        return [to_numpy(y[k]) for k in sorted(y)]
    if isinstance(y, (list, tuple)):
        return [to_numpy(v) for v in y]
    return [to_numpy(y)]


def variable_name(v) -> str:
    # Keras 3 variables have a path ("dense/kernel"); tf.Variables and Keras 2 a name
    # ("dense/kernel:0").  The host normalizes both to one form.
    return str(getattr(v, "path", None) or v.name)


def variables_params(variables) -> list[tuple[str, np.ndarray]]:
    # Keras 2's lookup layers list a `VocabWeightHandler` among their weights (so that h5
    # files carry the vocabulary): not a variable; the vocabulary is state_params' business.
    # A SavedModel's revived Keras 2 object lists None for such a table in `.variables`.
    return [(variable_name(v), to_numpy(v)) for v in variables
            if v is not None and type(v).__name__ != "VocabWeightHandler"]


def state_params(model) -> list[tuple[str, np.ndarray]]:
    """State that is no weight, as (name, array) beside the weights: the vocabulary of every
    lookup layer (TextVectorization, StringLookup, IntegerLookup), `<layer>/vocabulary`."""
    out = []
    for layer in _layers(model):
        get = getattr(layer, "get_vocabulary", None)
        if get is None:
            continue
        vocab = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in get()]
        out.append((f"{layer.name}/{VOCABULARY}", np.array(vocab, dtype=str)))
    return out


VOCABULARY = "vocabulary"


def _layers(model) -> list:
    seen, out, todo = set(), [], list(getattr(model, "layers", []) or [])
    while todo:
        layer = todo.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        out.append(layer)
        todo.extend(getattr(layer, "layers", []) or [])
    return out


def signature_inputs(fn, names: list, arrays: list) -> dict:
    """The keyword arguments of a SavedModel signature for the stored inputs: by input name,
    or (a single input, or names the signature does not use) by position in sorted key order."""
    _, kwargs = fn.structured_input_signature
    keys = sorted(kwargs)
    if set(names) == set(keys):
        return {n: tf.constant(a) for n, a in zip(names, arrays)}
    if len(keys) != len(arrays):
        raise ValueError(f"signature takes {keys}; the model has inputs {names}")
    return {k: tf.constant(a) for k, a in zip(keys, arrays)}


def call_signature(fn, names: list, arrays: list) -> list[np.ndarray]:
    """Call a SavedModel signature the way serving does: by keyword."""
    return outputs_list(fn(**signature_inputs(fn, names, arrays)))


def file_kind(path) -> str:
    """What a file really is, read from its first bytes, not its extension."""
    if os.path.isdir(path):
        return "directory"
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    return "unknown"


class Unsupported(Exception):
    """The format or loader does not exist in this version (not a failure)."""


def require_keras_model(built) -> str | None:
    if built.kind != "keras":
        return "a plain tf.Module has no Keras model to save in this format"
    return None


@dataclass
class LoadContext:
    artifact: Path
    manifest: dict
    model: str
    inputs: list  # the stored inputs, one array per model input, in the model's order
    # The save side's parameters: converted formats look them up among their constants.
    ref_params: list[tuple[str, np.ndarray]] | None = None
    input_names: list = field(default_factory=lambda: ["x"])
    # The resume check's batch (inputs list, labels) when the reference has one.
    resume_batch: tuple | None = None
    # The save side's outputs (layers.record skips outputs bit-identical to them).
    ref_outputs: list | None = None

    def feed(self, arrays: list | None = None):
        """What a Keras model or a tf.function is called with: one tensor, or a dict by
        input name."""
        arrays = self.inputs if arrays is None else arrays
        tensors = [tf.constant(a) for a in arrays]
        return tensors[0] if len(tensors) == 1 else dict(zip(self.input_names, tensors))

    def predict_input(self):
        """What model.predict gets, as users pass it: numpy arrays (one, or a dict by input
        name); strings as a tf.string tensor (Keras 3's array adapters reject numpy strings)."""
        arrays = [tf.constant(a) if a.dtype.kind in "US" else a for a in self.inputs]
        return arrays[0] if len(arrays) == 1 else dict(zip(self.input_names, arrays))


@dataclass
class Loaded:
    outputs: list[np.ndarray] | None  # None: this loader cannot predict (e.g. a checkpoint reader)
    params: list[tuple[str, np.ndarray]] | None  # None: this loader exposes no parameters
    notes: dict = field(default_factory=dict)
    # The weights after one optimizer step on the resume batch (None: not applicable here), and
    # what the step found (optimizer iterations before it, or why it could not run).
    resumed: list[tuple[str, np.ndarray]] | None = None
    resume: dict | None = None
    # Whether this loader can show state beyond weights (vocabularies): a Keras model can; a
    # signature, a checkpoint reader or a converted file cannot, and is judged without it.
    exposes_state: bool = False
    # Each layer's output (layers.record: meta, arrays), where the loader gives back a Keras
    # model; None: it gives back none (the host says so).
    layer_outputs: tuple | None = None
