"""`savedmodel`: tf.saved_model.save, the TF-level format (serving, TF Lite conversion)."""

from __future__ import annotations

import json

import numpy as np

from .. import safety
from ..runtime import (
    KERAS_VERSION,
    LoadContext,
    Loaded,
    Unsupported,
    call_signature,
    keras,
    outputs_list,
    tf,
    variables_params,
)
from ._keras_loaders import loaded_keras_model, model_scope, safe_load_model
from ._user_calls import user_custom_objects, users_code

NAME = "savedmodel"
DIRNAME = "savedmodel"


def unsupported_reason(built) -> str | None:
    return None


def _dims(shape):
    """A TensorShape as a list, or None where even its rank is unknown (TF1 classify/regress
    signatures): as_list() raises on those."""
    return shape.as_list() if shape.rank is not None else None


def signature_info(fn) -> dict:
    _, kwargs = fn.structured_input_signature
    outs = fn.structured_outputs
    return {
        "inputs": {k: [str(v.dtype.name), _dims(v.shape)] for k, v in kwargs.items()},
        "outputs": {k: [str(v.dtype.name), _dims(v.shape)] for k, v in outs.items()}
        if isinstance(outs, dict) else str(outs),
    }


def save(built, art) -> dict:
    path = art / DIRNAME
    if built.kind == "module":
        # A tf.Module has no automatic serving signature: users name one explicitly.
        signatures = {"serving_default": built.obj.__call__}
        tf.saved_model.save(built.obj, str(path), signatures=signatures)
    else:
        tf.saved_model.save(built.obj, str(path))
    loaded = tf.saved_model.load(str(path))
    sigs = {k: signature_info(f) for k, f in loaded.signatures.items()}
    return {"on_disk_format": "savedmodel-directory", "entry": DIRNAME, "signatures": sigs}


def saved_model_loaders(dirname: str) -> dict:
    """The loaders of a SavedModel directory `dirname` inside the artifact (also used by
    keras-savedmodel, whose directory is the same format written by Keras)."""

    def tf_load(ctx: LoadContext) -> Loaded:
        obj = tf.saved_model.load(str(ctx.artifact / dirname))
        if "serving_default" not in obj.signatures:
            raise KeyError(f"no serving_default signature; it has {sorted(obj.signatures)}")
        fn = obj.signatures["serving_default"]
        # The concrete function's captured variables carry their saved names under Keras 2 and
        # 3 alike ("dense/kernel:0"); the loaded object's .variables is empty for Keras 3.
        sigs = {k: signature_info(f) for k, f in obj.signatures.items()}
        notes = {"signature": signature_info(fn)} | signature_change(ctx, sigs)
        if not fn.variables:  # a TF1 SavedModel's signature, pruned from its graph
            notes["params"] = "the serving signature lists no variables"
        return Loaded(call_signature(fn, ctx.input_names, ctx.inputs),
                      variables_params(fn.variables) if fn.variables else None, notes)

    def tf_load_call(ctx: LoadContext) -> Loaded:
        """The loaded object called directly, as users do: `loaded(x)`."""
        obj = tf.saved_model.load(str(ctx.artifact / dirname))
        outputs = outputs_list(obj(ctx.feed()))
        variables = list(getattr(obj, "variables", None) or [])
        notes = {"called": f"{type(obj).__name__}(x)"}
        if not variables:
            notes["params"] = "the loaded object lists no variables"
        return Loaded(outputs, variables_params(variables) if variables else None, notes)

    def keras_load(ctx: LoadContext) -> Loaded:
        scope, notes = model_scope(ctx)
        users = user_custom_objects(ctx)
        kwargs = {"custom_objects": users} if users else {}
        with scope, users_code():  # safe_mode where Keras has it; Lambda layers refused where not
            model, safe = safe_load_model(ctx.artifact / dirname, **kwargs)
        return loaded_keras_model(model, ctx, **notes, **safe)

    def tfsm_layer(endpoint: str | None):
        def load(ctx: LoadContext) -> Loaded:
            if not hasattr(keras.layers, "TFSMLayer"):
                raise Unsupported(f"keras.layers.TFSMLayer does not exist in Keras "
                                  f"{KERAS_VERSION or '2'}")
            safety.refuse_graph_ops(ctx.artifact / dirname)
            kwargs = {"call_endpoint": endpoint} if endpoint else {}
            layer = keras.layers.TFSMLayer(str(ctx.artifact / dirname), **kwargs)
            outputs = outputs_list(layer(ctx.feed()))
            if not layer.weights:  # a TF1 SavedModel's variables are not the layer's
                return Loaded(outputs, None, {"params": "the layer lists no weights"})
            return Loaded(outputs, variables_params(layer.weights))
        return load

    def tf1_session_load(ctx: LoadContext) -> Loaded:
        return session_load(ctx.artifact / dirname, ctx.input_names, ctx.inputs)

    def checked(loader):
        """The loader, after the graph's file and print ops are refused (safety.py)."""
        def load(ctx: LoadContext) -> Loaded:
            safety.refuse_graph_ops(ctx.artifact / dirname)
            return loader(ctx)
        return load

    loaders = {"tf.saved_model.load": tf_load, "tf.saved_model.load[call]": tf_load_call,
               "keras.models.load_model": keras_load,
               TF1_LOADER: tf1_session_load,
               "keras.layers.TFSMLayer": tfsm_layer(None),
               "keras.layers.TFSMLayer[call_endpoint=serving_default]":
                   tfsm_layer("serving_default")}
    return {name: fn if name.startswith("keras.layers.TFSMLayer") else checked(fn)
            for name, fn in loaders.items()}


TF1_LOADER = "tf.compat.v1.saved_model.loader.load"
_VARIABLE_OPS = ("VarHandleOp", "VariableV2", "Variable")


def session_load(path, names: list, arrays: list) -> Loaded:
    """The TF1 way, as TF Serving-era code (and TF Serving's C++ loader) does it: load the
    `serve` MetaGraph into a Session, feed the `serving_default` signature's input tensors by
    name and fetch its output tensors.  The parameters are the variables that signature reads
    (walked back from its outputs), as `tf.saved_model.load`'s are the signature's captures."""
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(path))
        if "serving_default" not in meta.signature_def:
            raise KeyError(f"no serving_default signature; it has {sorted(meta.signature_def)}")
        sig = meta.signature_def["serving_default"]
        keys = sorted(sig.inputs)
        if set(names) == set(keys):
            feed = dict(zip(names, arrays))
        elif len(keys) == len(arrays):
            feed = dict(zip(keys, arrays))
        else:
            raise ValueError(f"signature takes {keys}; the model has inputs {names}")
        out_keys = sorted(sig.outputs)
        fetches = [sig.outputs[k].name for k in out_keys]
        outputs = sess.run(fetches, {sig.inputs[k].name: v for k, v in feed.items()})
        variables = _read_variables(sess, graph, [graph.get_tensor_by_name(f) for f in fetches])
    notes = {"signature": {"inputs": {k: sig.inputs[k].name for k in keys},
                           "outputs": {k: sig.outputs[k].name for k in out_keys}},
             "session": "tf.compat.v1.Session, tags ['serve']"}
    if not variables:
        notes["params"] = "the serving signature reads no variables"
    return Loaded([np.asarray(o) for o in outputs], variables or None, notes)


def _read_variables(sess, graph, tensors) -> list[tuple[str, np.ndarray]]:
    """The values of the variables the given tensors depend on, in graph order."""
    seen, todo, found = set(), [t.op for t in tensors], {}
    while todo:
        op = todo.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        if op.type in _VARIABLE_OPS:
            found[op.name] = op
            continue
        todo.extend(t.op for t in op.inputs)
        todo.extend(op.control_inputs)
    ops = [op for op in graph.get_operations() if op.name in found]
    with graph.as_default():
        reads = [tf.raw_ops.ReadVariableOp(resource=op.outputs[0], dtype=op.get_attr("dtype"))
                 if op.type == "VarHandleOp" else op.outputs[0] for op in ops]
    values = sess.run(reads)
    return [(op.name, np.asarray(v)) for op, v in zip(ops, values)]


def signature_change(ctx: LoadContext, loaded_sigs: dict) -> dict:
    """A note when the signatures seen on load differ from those the save side recorded."""
    saved = ctx.manifest.get("signatures")
    if saved is None:
        return {}
    saved = json.loads(json.dumps(saved))
    loaded = json.loads(json.dumps(loaded_sigs))
    if saved == loaded:
        return {"signatures_changed": False}
    changed = sorted(k for k in set(saved) | set(loaded) if saved.get(k) != loaded.get(k))
    return {"signatures_changed": True,
            "signature_changes": {k: {"saved": saved.get(k), "loaded": loaded.get(k)}
                                  for k in changed}}


_ALL = saved_model_loaders(DIRNAME)
LOADERS = {k: _ALL[k] for k in ("tf.saved_model.load", "tf.saved_model.load[call]",
                                "keras.models.load_model",
                                "keras.layers.TFSMLayer[call_endpoint=serving_default]",
                                TF1_LOADER)}
