"""`h5`: the legacy HDF5 full model, model.save("model.h5")."""

from __future__ import annotations

from ..runtime import file_kind, require_keras_model
from ._h5py_reader import h5py_loader
from ._keras_loaders import load_model_loaders

NAME = "h5"
FILENAME = "model.h5"


def unsupported_reason(built) -> str | None:
    return require_keras_model(built)


def save(built, art) -> dict:
    built.obj.save(str(art / FILENAME))
    return {"on_disk_format": file_kind(art / FILENAME), "entry": FILENAME}


# [MirroredStrategy] is tried on the `keras` format only (harness/vocab.py)
LOADERS = {k: f for k, f in load_model_loaders(lambda ctx: ctx.artifact / FILENAME).items()
           if k != "keras.models.load_model[MirroredStrategy]"} | {
    "h5py.File": h5py_loader(lambda ctx: ctx.artifact / FILENAME)}
