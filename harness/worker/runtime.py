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
    return [(variable_name(v), to_numpy(v)) for v in variables]


def call_signature(fn, x: np.ndarray) -> list[np.ndarray]:
    """Call a SavedModel signature the way serving does: by its single input's keyword."""
    _, kwargs = fn.structured_input_signature
    if len(kwargs) != 1:
        raise ValueError(f"signature takes {sorted(kwargs)}; the zoo feeds exactly one input")
    (key,) = kwargs
    return outputs_list(fn(**{key: tf.constant(x)}))


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
    inputs: np.ndarray
    # The save side's parameters: converted formats look them up among their constants.
    ref_params: list[tuple[str, np.ndarray]] | None = None


@dataclass
class Loaded:
    outputs: list[np.ndarray] | None  # None: this loader cannot predict (e.g. a checkpoint reader)
    params: list[tuple[str, np.ndarray]] | None  # None: this loader exposes no parameters
    notes: dict = field(default_factory=dict)
