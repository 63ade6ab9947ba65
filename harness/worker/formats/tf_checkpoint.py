"""`tf-checkpoint`: tf.train.Checkpoint of the model and its optimizer (object-based, TF2)."""

from __future__ import annotations

import numpy as np

from .. import zoo
from ..runtime import LoadContext, Loaded, tf

NAME = "tf-checkpoint"
PREFIX = "ckpt"
_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def unsupported_reason(built) -> str | None:
    return None


def _checkpoint(built) -> tf.train.Checkpoint:
    if built.kind == "module":
        return tf.train.Checkpoint(model=built.obj)
    return tf.train.Checkpoint(model=built.obj, optimizer=built.obj.optimizer)


def key_map(prefix: str, params: list[tuple[str, np.ndarray]]) -> dict[str, str]:
    """Which checkpoint key holds which model parameter, as written by this very version.

    Checkpoint keys name object-graph paths, not layers ("model/layer_with_weights-0/kernel"
    under Keras 2; under Keras 3 a Dense kernel may sit at "optimizer/_trainable_variables/0").
    Right after writing, each key is matched to the one parameter holding bit-identical bytes;
    keys that match none or several (optimizer slots, counters, twin zero vectors) stay
    unmapped and are reported as such by the host.
    """
    reader = tf.train.load_checkpoint(prefix)
    by_bytes: dict[tuple, list[str]] = {}
    for name, value in params:
        by_bytes.setdefault((value.dtype.str, value.shape, value.tobytes()), []).append(name)
    mapping = {}
    for key in reader.get_variable_to_shape_map():
        if key == _GRAPH_KEY:
            continue
        v = np.asarray(reader.get_tensor(key))
        names = by_bytes.get((v.dtype.str, v.shape, v.tobytes()), [])
        if len(names) == 1:
            mapping[key] = names[0]
    return mapping


def save(built, art) -> dict:
    path = _checkpoint(built).save(str(art / PREFIX))
    prefix_name = path.rsplit("/", 1)[-1]
    return {"on_disk_format": "tf2-object-checkpoint", "entry": prefix_name,
            "checkpoint_keys": key_map(path, built.params())}


def _prefix(ctx: LoadContext) -> str:
    return str(ctx.artifact / ctx.manifest["entry"])


def _restore(ctx: LoadContext) -> Loaded:
    fresh = zoo.build(ctx.model, train=False)
    # Called as users call it: restore() with no assertion.  A restore that silently matches
    # nothing leaves the fresh weights in place, and the comparison shows which ones.
    _checkpoint(fresh).restore(_prefix(ctx))
    return Loaded(fresh.predict(ctx.inputs), fresh.params())


def _reader(ctx: LoadContext) -> Loaded:
    reader = tf.train.load_checkpoint(_prefix(ctx))
    params = [(k, np.asarray(reader.get_tensor(k)))
              for k in sorted(reader.get_variable_to_shape_map()) if k != _GRAPH_KEY]
    return Loaded(None, params, {"keys": len(params)})


LOADERS = {"tf.train.Checkpoint.restore": _restore, "tf.train.load_checkpoint": _reader}
