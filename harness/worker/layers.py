"""Each layer's output on the stored inputs, so the host can say where a prediction starts to
differ (`harness/verdict/layer_diffs.py`).

A functional or Sequential Keras model knows its layer graph: `keras.Model(model.inputs,
[layer.output, ...])` computes every layer's output in one call, with the model's own weights
and dtype policies.  A subclassed model has no such graph (its `call` is Python), nor has what
`tf.saved_model.load` gives back (signatures and restored functions, no Keras layers): those
say why not instead.

The save side records them once per reference (beside its outputs in reference.npz, arrays
`l<i>_<j>`: layer i's j-th output tensor), the load side per Keras-side load (in the cell's npz);
both called the way their outputs were made (an eager call on the save side and for
`model.load_weights`, `model.predict` after `keras.models.load_model`), so the last layer's
difference is the outputs' difference.  This is our step, not the user's: any exception here
becomes the reason, never the cell's outcome.
"""

from __future__ import annotations

import time

import numpy as np

from .runtime import keras, to_numpy

MAX_BYTES = 16 << 20  # per side and cell: a few percent of a night's npz at most
MAX_LAYERS = 256


def record(model, feed, predict: bool = False, outputs: list | None = None,
           reference: list | None = None) -> tuple[dict, dict]:
    """(meta, arrays): meta `{"layers": [{"name", "class", "dtype_policy", "n"}, ...]}` plus
    `"skipped"` (layers whose output is ambiguous), or `{"unavailable": why}`; arrays
    `l<i>_<j>`.  `feed` is what the model's outputs were computed from (a tensor or a dict of
    them; numpy for predict).  A load whose `outputs` are bit-identical to the save side's
    `reference` has no difference to explain: not recorded (most cells; the cost stays small)."""
    if reference is not None and outputs is not None and _identical(outputs, reference):
        return {"unavailable": "outputs bit-identical to the reference"}, {}
    start = time.monotonic()
    try:
        meta, arrays = _record(model, feed, predict)
    except Exception as exc:  # ours, not the user's call: the cell keeps its outcome
        meta, arrays = {"unavailable": f"per-layer outputs failed: {type(exc).__name__}: "
                                       f"{str(exc)[:300]}"}, {}
    meta["seconds"] = round(time.monotonic() - start, 3)  # what this costs (the bench's figure)
    return meta, arrays


def _record(model, feed, predict: bool) -> tuple[dict, dict]:
    why = graph_reason(model)
    if why:
        return {"unavailable": why}, {}
    import tensorflow as tf

    layers, tensors, skipped = [], [], []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        try:
            out = tf.nest.flatten(layer.output)
        except Exception:  # a shared layer (several inbound nodes) has no one output
            skipped.append(layer.name)
            continue
        layers.append({"name": layer.name, "class": type(layer).__name__,
                       "dtype_policy": policy_name(layer), "n": len(out)})
        tensors += out
    if not layers:
        return {"unavailable": "the model has no layer with one output"}, {}
    if len(layers) > MAX_LAYERS:
        return {"unavailable": f"{len(layers)} layers (more than {MAX_LAYERS} are not "
                               "recorded)"}, {}
    sub = keras.Model(model.inputs, tensors)
    got = sub.predict(feed, verbose=0) if predict else sub(feed, training=False)
    got = [to_numpy(t) for t in tf.nest.flatten(got)]
    if len(got) != len(tensors):
        return {"unavailable": f"the layer sub-model gave {len(got)} outputs for "
                               f"{len(tensors)} layer outputs"}, {}
    size = sum(a.nbytes for a in got)
    if size > MAX_BYTES:
        return {"unavailable": f"layer outputs hold {size / 1e6:.0f} MB (more than "
                               f"{MAX_BYTES / 1e6:.0f} MB are not recorded)"}, {}
    arrays, k = {}, 0
    for i, meta in enumerate(layers):
        for j in range(meta["n"]):
            arrays[f"l{i}_{j}"] = _plain(got[k])
            k += 1
    meta = {"layers": layers, "how": "model.predict" if predict else "model(x)"}
    if skipped:
        meta["skipped"] = skipped
    return meta, arrays


def of_built(fresh, ctx, outputs: list) -> tuple[dict, dict]:
    """`record` for a zoo model the loader built and restored (load_weights, a checkpoint),
    called as its outputs were (eagerly)."""
    if fresh.kind != "keras":
        return {"unavailable": "a tf.Module has no Keras layers"}, {}
    return record(fresh.obj, fresh.feed(ctx.inputs), outputs=outputs,
                  reference=ctx.ref_outputs)


def _identical(outputs: list, reference: list) -> bool:
    if len(outputs) != len(reference):
        return False
    for a, r in zip(outputs, reference):
        a, r = np.asarray(a), np.asarray(r)
        if a.dtype != r.dtype or a.shape != r.shape:
            return False
        if a.dtype.kind in "OSU" or r.dtype.kind in "OSU":
            if not np.array_equal(a.astype(str), r.astype(str)):
                return False
        elif a.tobytes() != r.tobytes():
            return False
    return True


def graph_reason(model) -> str | None:
    """Why `model` has no layer graph to cut a sub-model from, or None."""
    if not isinstance(model, keras.Model):
        return f"a {type(model).__name__} (not a Keras model) has no Keras layers"
    if not getattr(model, "_is_graph_network", None) and \
            type(model).__name__ not in ("Functional", "Sequential"):
        return (f"a subclassed model ({type(model).__name__}) has no layer graph: "
                "keras.Model(inputs, [layer.output ...]) needs a functional or Sequential one")
    if not getattr(model, "inputs", None):
        return "the model has no symbolic inputs (never built on an Input)"
    return None


def policy_name(layer) -> str | None:
    policy = getattr(layer, "dtype_policy", None)
    name = getattr(policy, "name", None)
    return None if name is None else str(name)


def _plain(a) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind in "OS":  # strings: as the load side stores them (np.load without pickle)
        return np.vectorize(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes)
                            else str(v), otypes=[str])(a) if a.size else a.astype(str)
    return a
