"""`weights-h5`: weights only, model.save_weights("model.weights.h5"), loaded into a model the
loading side builds itself from the zoo's code (as users rebuild theirs)."""

from __future__ import annotations

from .. import zoo
from ..runtime import LoadContext, Loaded, file_kind, require_keras_model
from ._h5py_reader import h5py_loader

NAME = "weights-h5"
FILENAME = "model.weights.h5"  # Keras 3 insists on this suffix; Keras 2 writes HDF5 for it too


def unsupported_reason(built) -> str | None:
    return require_keras_model(built)


def save(built, art) -> dict:
    built.obj.save_weights(str(art / FILENAME))
    return {"on_disk_format": file_kind(art / FILENAME), "entry": FILENAME}


def _load_weights(ctx: LoadContext) -> Loaded:
    fresh = zoo.build(ctx.model, train=False)
    fresh.obj.load_weights(str(ctx.artifact / FILENAME))
    return Loaded(fresh.predict(ctx.inputs), fresh.params())


LOADERS = {"model.load_weights": _load_weights,
           "h5py.File": h5py_loader(lambda ctx: ctx.artifact / FILENAME)}
