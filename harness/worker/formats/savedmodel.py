"""`savedmodel`: tf.saved_model.save, the TF-level format (serving, TF Lite conversion)."""

from __future__ import annotations

import json

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
        return Loaded(call_signature(fn, ctx.input_names, ctx.inputs),
                      variables_params(fn.variables),
                      {"signature": signature_info(fn)} | signature_change(ctx, sigs))

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
            kwargs = {"call_endpoint": endpoint} if endpoint else {}
            layer = keras.layers.TFSMLayer(str(ctx.artifact / dirname), **kwargs)
            outputs = outputs_list(layer(ctx.feed()))
            return Loaded(outputs, variables_params(layer.weights))
        return load

    return {"tf.saved_model.load": tf_load, "tf.saved_model.load[call]": tf_load_call,
            "keras.models.load_model": keras_load,
            "keras.layers.TFSMLayer": tfsm_layer(None),
            "keras.layers.TFSMLayer[call_endpoint=serving_default]": tfsm_layer("serving_default")}


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
                                "keras.layers.TFSMLayer[call_endpoint=serving_default]")}
