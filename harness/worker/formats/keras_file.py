"""`keras`: model.save("model.keras").  TF 2.12/2.13 write HDF5 under that name unless asked
otherwise; the manifest records what the bytes really are."""

from __future__ import annotations

from ..runtime import file_kind, require_keras_model
from ._h5py_reader import h5py_loader
from ._keras_loaders import load_model_loaders

NAME = "keras"
FILENAME = "model.keras"


def unsupported_reason(built) -> str | None:
    return require_keras_model(built)


def save(built, art) -> dict:
    built.obj.save(str(art / FILENAME))
    return {"on_disk_format": file_kind(art / FILENAME), "entry": FILENAME}


LOADERS = load_model_loaders(lambda ctx: ctx.artifact / FILENAME) | {
    "h5py.File": h5py_loader(lambda ctx: ctx.artifact / FILENAME)}
