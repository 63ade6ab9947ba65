"""`weights-tf`: Keras 2's TF-format weights, model.save_weights("ckpt/weights") (a checkpoint
prefix: .index, .data-*, a `checkpoint` state file), as the Keras 2 guides and ModelCheckpoint
(save_weights_only=True) write them.  The checkpoint holds the model's object graph, optimizer
included, so loading it into a compiled model can resume training.

Keras 3 has no such save: save_weights takes only a `.weights.h5` name (`unsupported` on the
save side, with Keras's own message); its load_weights of a Keras 2 file is a real cell.
"""

from __future__ import annotations

import numpy as np

from .. import layers, resume, zoo
from ..runtime import KERAS_MAJOR, LoadContext, Loaded, Unsupported, require_keras_model, tf
from .tf_checkpoint import key_map

NAME = "weights-tf"
PREFIX = "ckpt/weights"
_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def unsupported_reason(built) -> str | None:
    return require_keras_model(built)


def save(built, art) -> dict:
    path = str(art / PREFIX)
    if KERAS_MAJOR >= 3:
        try:
            built.obj.save_weights(path)
        except ValueError as exc:  # what Keras 3 says to the user who tries
            raise Unsupported(f"Keras 3 writes no TF-format weights: {exc}") from None
        raise RuntimeError("Keras 3 accepted save_weights() of a TF-format prefix")
    built.obj.save_weights(path)
    return {"on_disk_format": "tf2-object-checkpoint", "entry": PREFIX,
            "written_by": f"model.save_weights({PREFIX!r})",
            "checkpoint_keys": key_map(path, [(n, v) for n, v in built.params()
                                              if v.dtype.kind not in "US"])}


def _load_weights(ctx: LoadContext) -> Loaded:
    fresh = zoo.build(ctx.model, train=False)
    fresh.obj.load_weights(str(ctx.artifact / PREFIX))
    outputs, params = fresh.predict(ctx.inputs), fresh.params()  # before the step moves them
    per_layer = layers.of_built(fresh, ctx, outputs)
    resumed, info = resume.on_load(fresh.obj, ctx.input_names, ctx.resume_batch)
    return Loaded(outputs, params, {}, resumed, info, exposes_state=True,
                  layer_outputs=per_layer)


def _reader(ctx: LoadContext) -> Loaded:
    reader = tf.train.load_checkpoint(str(ctx.artifact / PREFIX))
    params = [(k, np.asarray(reader.get_tensor(k)))
              for k in sorted(reader.get_variable_to_shape_map()) if k != _GRAPH_KEY]
    return Loaded(None, params, {"keys": len(params)})


LOADERS = {"model.load_weights": _load_weights, "tf.train.load_checkpoint": _reader}
