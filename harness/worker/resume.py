"""Can training resume?  One optimizer step on the stored resume batch.

The save side takes the step right after building (and puts every variable back, so the formats
it saves next hold the trained model, not the stepped one); a loader that gives back a model
with its optimizer takes the same step.  The weights after the two steps must agree within the
per-dtype tolerance: a model that lost its optimizer state (Adam's moments, its iteration count)
takes a different step.

The step is taken in inference mode (`model(x, training=False)` under a GradientTape, the
compiled loss, `optimizer.apply_gradients`): Dropout draws its masks from per-process random
state that no file holds, so `fit()` could never take the same step twice.  Under a
mixed-precision LossScaleOptimizer the loss is scaled and the gradients unscaled as its docs say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .runtime import KERAS_MAJOR, tf, to_numpy, variables_params


@dataclass
class Discover:
    """The resume batch of a user's artifact, which stores no labels: the inputs, the labels to
    be chosen from the model's own outputs (labels_for) by the loader that first loads it."""

    xs: list


def labels_for(model, names: list, xs: list):
    """Labels the model's compiled loss accepts and that move the weights: the model's own
    outputs shifted by one class (one-hot, else as class indices) or, for one unit, flipped.
    Raises ValueError when no such labels fit the loss (then training is not checked)."""
    x = _feed(names, xs)
    y_pred = model(x, training=False)
    if isinstance(y_pred, (list, tuple)) and len(y_pred) > 1:
        raise ValueError("a model with several outputs as a list: its labels are not guessed")
    flat = [to_numpy(p) for p in tf.nest.flatten(y_pred)]

    def one_hot(p):
        if p.ndim >= 2 and p.shape[-1] > 1:
            return np.eye(p.shape[-1], dtype=p.dtype)[(p.argmax(-1) + 1) % p.shape[-1]]
        return (1 - np.round(np.clip(p, 0, 1))).astype(p.dtype)

    def sparse(p):
        if p.ndim >= 2 and p.shape[-1] > 1:
            return ((p.argmax(-1) + 1) % p.shape[-1]).astype(np.int64)
        return None

    problem = "no numeric outputs"
    for make in (one_hot, sparse):
        if any(p.dtype.kind not in "fiu" for p in flat):
            break
        ys = [make(p) for p in flat]
        if any(v is None for v in ys):
            continue
        y = tf.nest.pack_sequence_as(y_pred, ys) if isinstance(y_pred, dict) else ys[0]
        try:
            loss = model.compute_loss(x=x, y=tf.nest.map_structure(tf.constant, y),
                                      y_pred=y_pred)
            if np.isfinite(to_numpy(loss)).all():
                return y
            problem = "the loss is not finite"
        except Exception as exc:  # the loss wants other labels: try the next guess
            problem = f"{type(exc).__name__}: {str(exc)[:200]}"
    raise ValueError(f"no labels of the outputs' shapes fit the model's loss ({problem})")


def optimizer_of(model):
    opt = getattr(model, "optimizer", None)
    return None if opt is None or isinstance(opt, str) else opt


def iterations(opt) -> int | None:
    it = getattr(opt, "iterations", None)
    try:
        return None if it is None else int(to_numpy(it))
    except (TypeError, ValueError):
        return None


def _optimizer_variables(opt) -> list:
    found = getattr(opt, "variables", None)
    if callable(found):
        found = found()
    return list(found or [])


def distributed(model) -> bool:
    """Loaded or built under a distribution strategy (its variables are mirrored)."""
    strategy = getattr(model, "distribute_strategy", None)
    return tf.distribute.has_strategy() or (
        strategy is not None and strategy is not tf.distribute.get_strategy())


def _feed(names: list, arrays: list):
    tensors = [tf.constant(a) for a in arrays]
    return tensors[0] if len(tensors) == 1 else dict(zip(names, tensors))


def step(model, names: list, batch: tuple) -> list[tuple[str, np.ndarray]]:
    """One optimizer step on `batch` (inputs list, labels); returns the weights after it."""
    opt = optimizer_of(model)
    if opt is None:
        raise ValueError("the model has no optimizer (not compiled)")
    x_list, y = batch
    x = _feed(names, x_list)
    y = tf.nest.map_structure(tf.constant, y)
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        y_pred = model(x, training=False)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred)
        if KERAS_MAJOR >= 3:
            scaled = opt.scale_loss(loss) if hasattr(opt, "scale_loss") else loss
        else:
            scaled = opt.get_scaled_loss(loss) if hasattr(opt, "get_scaled_loss") else loss
    grads = tape.gradient(scaled, variables)
    if KERAS_MAJOR < 3 and hasattr(opt, "get_unscaled_gradients"):
        grads = opt.get_unscaled_gradients(grads)
    opt.apply_gradients(zip(grads, variables))
    return variables_params(model.weights)


def step_and_restore(model, names: list, batch: tuple) -> tuple[list, int | None]:
    """The save side: the step's weights and the optimizer's iteration count before it; every
    variable (model, optimizer, metrics) is put back bit for bit afterwards."""
    opt = optimizer_of(model)
    keep = [v for v in list(model.variables) + _optimizer_variables(opt) +
            [v for m in getattr(model, "metrics", []) for v in m.variables]
            if hasattr(v, "assign")]  # not Keras 2's VocabWeightHandler
    before = [to_numpy(v).copy() for v in keep]
    weights_before = variables_params(model.weights)
    n_iter = iterations(opt)
    resumed = step(model, names, batch)
    for v, value in zip(keep, before):
        v.assign(value)
    after = variables_params(model.weights)
    if any(a[1].tobytes() != b[1].tobytes() for a, b in zip(after, weights_before)):
        raise RuntimeError("the resume step's variables could not be put back")
    return resumed, n_iter


def on_load(model, names: list, batch: tuple | None) -> tuple[list | None, dict | None]:
    """The load side: (weights after the step, what the step found), or (None, None) where the
    loaded model has no optimizer (compile=False, a plain restored object)."""
    if batch is None or optimizer_of(model) is None:
        return None, None
    if distributed(model):  # a step would need strategy.run: not this check's subject
        return None, {"skipped": "a model under a distribution strategy"}
    opt = optimizer_of(model)
    info = {"iterations_loaded": iterations(opt), "optimizer": type(opt).__name__,
            "optimizer_variables_loaded": len(_optimizer_variables(opt))}
    if isinstance(batch, Discover):  # a user's artifact under its producer's TF
        try:
            y = labels_for(model, names, batch.xs)
        except Exception as exc:
            return None, info | {"skipped": f"labels: {exc}"}
        labels = list(y.values()) if isinstance(y, dict) else [y]
        info |= {"_labels": labels, "label_names": list(y) if isinstance(y, dict) else None}
        batch = (batch.xs, y)
    try:
        return step(model, names, batch), info
    except Exception as exc:  # training cannot resume: the judge says so, with this message
        message = re.sub(r", value=[^>]*>", ">", str(exc))  # a variable's repr holds its values
        return None, info | {"error": f"{type(exc).__name__}: {message[:500]}"}
