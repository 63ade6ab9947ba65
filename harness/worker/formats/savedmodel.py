"""`savedmodel`: tf.saved_model.save, the TF-level format (serving, TF Lite conversion)."""

from __future__ import annotations

from ..runtime import (
    LoadContext,
    Loaded,
    Unsupported,
    call_signature,
    keras,
    outputs_list,
    tf,
    variables_params,
)
from ._keras_loaders import loaded_keras_model

NAME = "savedmodel"
DIRNAME = "savedmodel"


def unsupported_reason(built) -> str | None:
    return None


def signature_info(fn) -> dict:
    _, kwargs = fn.structured_input_signature
    outs = fn.structured_outputs
    return {
        "inputs": {k: [str(v.dtype.name), v.shape.as_list()] for k, v in kwargs.items()},
        "outputs": {k: [str(v.dtype.name), v.shape.as_list()] for k, v in outs.items()}
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


def _tf_load(ctx: LoadContext) -> Loaded:
    obj = tf.saved_model.load(str(ctx.artifact / DIRNAME))
    if "serving_default" not in obj.signatures:
        raise KeyError(f"no serving_default signature; it has {sorted(obj.signatures)}")
    fn = obj.signatures["serving_default"]
    # The concrete function's captured variables carry their saved names under Keras 2 and 3
    # alike ("dense/kernel:0"); the loaded object's .variables is empty for Keras 3 models.
    return Loaded(call_signature(fn, ctx.inputs), variables_params(fn.variables),
                  {"signature": signature_info(fn)})


def _keras_load(ctx: LoadContext) -> Loaded:
    return loaded_keras_model(keras.models.load_model(str(ctx.artifact / DIRNAME)), ctx)


def _tfsm_layer(ctx: LoadContext) -> Loaded:
    if not hasattr(keras.layers, "TFSMLayer"):
        raise Unsupported(f"keras.layers.TFSMLayer does not exist in Keras {keras.__version__}")
    layer = keras.layers.TFSMLayer(str(ctx.artifact / DIRNAME), call_endpoint="serving_default")
    outputs = outputs_list(layer(tf.constant(ctx.inputs)))
    return Loaded(outputs, variables_params(layer.weights))


LOADERS = {
    "tf.saved_model.load": _tf_load,
    "keras.models.load_model": _keras_load,
    "keras.layers.TFSMLayer[call_endpoint=serving_default]": _tfsm_layer,
}
