"""`keras-v3`: model.save("model.keras", save_format="keras_v3"), the call TF 2.12's own docs
recommend for the new `.keras` zip (its default for that name is still HDF5; see keras_file.py).
The same call is made under every version; the manifest records what the bytes are and what
the version said (Keras 3 ignores the argument with a deprecation warning)."""

from __future__ import annotations

import warnings

from ..runtime import file_kind, require_keras_model
from ._h5py_reader import h5py_loader
from ._keras_loaders import load_model_loaders

NAME = "keras-v3"
FILENAME = "model.keras"


def unsupported_reason(built) -> str | None:
    return require_keras_model(built)


def save(built, art) -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built.obj.save(str(art / FILENAME), save_format="keras_v3")
    said = sorted({str(w.message)[:300] for w in caught
                   if "save_format" in str(w.message)})
    return {"on_disk_format": file_kind(art / FILENAME), "entry": FILENAME,
            "written_by": 'model.save("model.keras", save_format="keras_v3")',
            **({"save_warnings": said} if said else {})}


# [MirroredStrategy] is tried on the `keras` format only (harness/vocab.py)
LOADERS = {k: f for k, f in load_model_loaders(lambda ctx: ctx.artifact / FILENAME).items()
           if k != "keras.models.load_model[MirroredStrategy]"} | {
    "h5py.File": h5py_loader(lambda ctx: ctx.artifact / FILENAME)}
