"""Weights only, saved and loaded as users call it, into a model the loading side builds
itself from the zoo's code (as users rebuild theirs).

- `weights-h5`: the legacy call of every Keras 2 tutorial, model.save_weights("model_weights.h5"):
  Keras 2 writes its HDF5 weights layout (layer_names / weight_names).  Keras 3 refuses to
  save under that name ("must end in `.weights.h5`"): that refusal is the cell's save-error.
- `weights-h5-v3`: model.save_weights("model.weights.h5"): Keras 3's only name, and Keras 2.12+
  writes its newer (saving_lib) layout for it.
"""

from __future__ import annotations

from .. import layers, safety, zoo
from ..runtime import (
    LoadContext,
    Loaded,
    file_kind,
    outputs_list,
    require_keras_model,
    variables_params,
)
from ._h5py_reader import h5py_loader
from ._user_calls import user_architecture

NAME = "weights-h5"
FILENAME = "model_weights.h5"


def unsupported_reason(built) -> str | None:
    return require_keras_model(built)


def saver(filename: str):
    def save(built, art) -> dict:
        built.obj.save_weights(str(art / filename))
        return {"on_disk_format": file_kind(art / filename), "entry": filename,
                "written_by": f"model.save_weights({filename!r})"}
    return save


save = saver(FILENAME)


def weights_loader(filename: str):
    def load(ctx: LoadContext) -> Loaded:
        if file_kind(ctx.artifact / filename) == "hdf5":
            safety.check_h5_file(ctx.artifact / filename)  # declared sizes, before Keras reads
        model = user_architecture(ctx)
        if model is not None:  # the user's own file: their build_model(), then their call
            model.load_weights(str(ctx.artifact / filename))
            return Loaded(outputs_list(model.predict(ctx.predict_input(), verbose=0)),
                          variables_params(model.weights),
                          {"architecture": "build_model() of the --custom-objects file"},
                          exposes_state=True)
        fresh = zoo.build(ctx.model, train=False)
        fresh.obj.load_weights(str(ctx.artifact / filename))
        outputs = fresh.predict(ctx.inputs)
        return Loaded(outputs, fresh.params(), exposes_state=True,
                      layer_outputs=layers.of_built(fresh, ctx, outputs))
    return load


def loaders(filename: str) -> dict:
    return {"model.load_weights": weights_loader(filename),
            "h5py.File": h5py_loader(lambda ctx: ctx.artifact / filename)}


LOADERS = loaders(FILENAME)
