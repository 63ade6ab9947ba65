"""`tf-checkpoint`: tf.train.Checkpoint of the model and its optimizer (object-based, TF2)."""

from __future__ import annotations

import numpy as np

from .. import layers, resume, zoo
from ..runtime import LoadContext, Loaded, Unsupported, keras, mirrored_strategy, tf

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


KEEP = 2  # max_to_keep; saved KEEP + 1 times, so the manager has deleted the oldest


def save(built, art) -> dict:
    ckpt = _checkpoint(built)
    manager = tf.train.CheckpointManager(ckpt, str(art), max_to_keep=KEEP,
                                         checkpoint_name=PREFIX)
    for _ in range(KEEP + 1):
        path = manager.save()
    prefix_name = path.rsplit("/", 1)[-1]
    return {"on_disk_format": "tf2-object-checkpoint", "entry": prefix_name,
            "written_by": f"tf.train.CheckpointManager(max_to_keep={KEEP}).save() x{KEEP + 1}",
            "kept": [p.rsplit("/", 1)[-1] for p in manager.checkpoints],
            "checkpoint_keys": key_map(path, built.params())}


def _prefix(ctx: LoadContext) -> str:
    return str(ctx.artifact / ctx.manifest["entry"])


def _restore(ctx: LoadContext) -> Loaded:
    fresh = zoo.build(ctx.model, train=False)
    # Called as users call it: restore() with no assertion.  A restore that silently matches
    # nothing leaves the fresh weights in place, and the comparison shows which ones.
    _checkpoint(fresh).restore(_prefix(ctx))
    return _resumed(fresh, ctx)


def _resumed(fresh, ctx: LoadContext, notes: dict | None = None) -> Loaded:
    """The restored model's predictions and parameters, and (model and optimizer restored
    together) the resume step."""
    outputs, params = fresh.predict(ctx.inputs), fresh.params()  # before the step moves them
    per_layer = layers.of_built(fresh, ctx, outputs)
    resumed, info = (None, None) if fresh.kind != "keras" else \
        resume.on_load(fresh.obj, ctx.input_names, ctx.resume_batch)
    return Loaded(outputs, params, notes or {}, resumed, info, exposes_state=True,
                  layer_outputs=per_layer)


def _restore_mirrored(ctx: LoadContext) -> Loaded:
    """The model rebuilt under MirroredStrategy (two logical CPUs), then restored."""
    strategy = mirrored_strategy()
    fresh = zoo.build(ctx.model, train=False, strategy=strategy)
    with strategy.scope():
        _checkpoint(fresh).restore(_prefix(ctx))
    first = (fresh.obj.variables if fresh.kind == "module" else fresh.obj.weights)[0]
    outputs = fresh.predict(ctx.inputs)
    return Loaded(outputs, fresh.params(), {"variable_class": type(first).__name__},
                  layer_outputs=layers.of_built(fresh, ctx, outputs))


def _manager(ctx: LoadContext) -> Loaded:
    """Restore the latest checkpoint the way training scripts resume: through a manager."""
    fresh = zoo.build(ctx.model, train=False)
    manager = tf.train.CheckpointManager(_checkpoint(fresh), str(ctx.artifact),
                                         max_to_keep=KEEP, checkpoint_name=PREFIX)
    if manager.latest_checkpoint is None:
        raise FileNotFoundError(f"CheckpointManager finds no checkpoint in {ctx.artifact}")
    manager.checkpoint.restore(manager.latest_checkpoint)
    return _resumed(fresh, ctx, {
        "latest_checkpoint": manager.latest_checkpoint.rsplit("/", 1)[-1],
        "checkpoints": [p.rsplit("/", 1)[-1] for p in manager.checkpoints]})


def _partial_new_head(ctx: LoadContext) -> Loaded:
    """Transfer learning: the model gets a new head on top, the checkpoint restores the backbone
    (every original layer) and expect_partial() silences what is not restored (the optimizer,
    the new head).  The backbone's parameters and outputs are what is compared."""
    fresh = zoo.build(ctx.model, train=False)
    if fresh.kind != "keras" or not hasattr(fresh.obj, "inputs") or not fresh.obj.inputs \
            or len(fresh.obj.outputs) != 1:
        raise Unsupported("needs a functional Keras model with one output to put a new head "
                          f"on ({ctx.model} is {type(fresh.obj).__name__} with "
                          f"{len(getattr(fresh.obj, 'outputs', None) or [])} outputs)")
    backbone = fresh.obj
    head = keras.layers.Dense(2, name="new_head")(backbone.outputs[0])
    model = keras.Model(backbone.inputs, head, name=backbone.name)
    status = tf.train.Checkpoint(model=model).restore(_prefix(ctx)).expect_partial()
    del status
    outputs = fresh.predict(ctx.inputs)
    return Loaded(outputs, fresh.params(),
                  {"new_head": "Dense(2) on the model's output, not in the checkpoint"},
                  layer_outputs=layers.of_built(fresh, ctx, outputs))  # the backbone's layers


def _reader(ctx: LoadContext) -> Loaded:
    reader = tf.train.load_checkpoint(_prefix(ctx))
    params = [(k, np.asarray(reader.get_tensor(k)))
              for k in sorted(reader.get_variable_to_shape_map()) if k != _GRAPH_KEY]
    return Loaded(None, params, {"keys": len(params)})


LOADERS = {"tf.train.Checkpoint.restore": _restore, "tf.train.load_checkpoint": _reader,
           "tf.train.CheckpointManager": _manager,
           "tf.train.Checkpoint.restore[expect_partial,new_head]": _partial_new_head,
           "tf.train.Checkpoint.restore[MirroredStrategy]": _restore_mirrored}
