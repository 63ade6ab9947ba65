"""`tflite` and `tflite-dynamic` (dynamic-range quantized): tf.lite.TFLiteConverter, loaded with
tf.lite.Interpreter and with ai_edge_litert's Interpreter (TF's announced successor)."""

from __future__ import annotations

import numpy as np

from ..inspect import check_tflite_flatbuffer
from ..isolate import in_child
from ..runtime import KERAS_MAJOR, LoadContext, Loaded, Unsupported, tf
from ._converted import find_reference, inference_function
from .savedmodel import signature_change

FILENAME = "model.tflite"


def unsupported_reason(built) -> str | None:
    return None


def _converter(built, art, notes: dict):
    """from_keras_model is what users call; where it breaks (Keras 3 under TF 2.16+), the
    documented route is a SavedModel via model.export() and from_saved_model: recorded."""
    if built.kind == "module":
        notes["converter"] = "from_concrete_functions"
        return tf.lite.TFLiteConverter.from_concrete_functions(
            [inference_function(built)], built.obj)
    try:
        conv = tf.lite.TFLiteConverter.from_keras_model(built.obj)
        notes["converter"] = "from_keras_model"
        return conv
    except Exception as exc:
        if KERAS_MAJOR < 3:
            raise
        notes["from_keras_model_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    export_dir = art.parent / (art.name + "-export")
    built.obj.export(str(export_dir))
    notes["converter"] = "from_saved_model(model.export(dir))"
    return tf.lite.TFLiteConverter.from_saved_model(str(export_dir))


def saver(quantized: bool):
    def save(built, art) -> dict:
        notes: dict = {}
        conv = _converter(built, art, notes)
        if quantized:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        blob = conv.convert()
        (art / FILENAME).write_bytes(blob)
        kind = "tflite-flatbuffer" if blob[4:8] == b"TFL3" else "unknown"
        sigs = io_signature(tf.lite.Interpreter(model_content=blob))
        return {"on_disk_format": kind, "entry": FILENAME,
                "quantized": quantized or built.name == "qat",
                "conversion": notes, "signatures": sigs}
    return save


def io_signature(interp) -> dict:
    """Inputs and outputs as the interpreter sees them: name -> [dtype, shape]."""
    def side(details):
        return {d["name"]: [np.dtype(d["dtype"]).name, [int(x) for x in d["shape"]]]
                for d in details}
    return {"model": {"inputs": side(interp.get_input_details()),
                      "outputs": side(interp.get_output_details())}}


def run_interpreter(interp, xs: list, names: list | None = None) -> list[np.ndarray]:
    """Resize the (batch 1) inputs to the stored batch, run, read every output (sorted by
    name).  Several inputs are fed by the name they carry in the flatbuffer
    (`serving_default_<input>:0`)."""
    details = interp.get_input_details()
    if len(details) == 1:
        pairs = [(details[0], xs[0])]
    else:
        by_name = dict(zip(names or [], xs))
        pairs = [(d, by_name[_input_name(d["name"], by_name)]) for d in details]
    for d, x in pairs:
        interp.resize_tensor_input(d["index"], list(x.shape))
    interp.allocate_tensors()
    for d, x in pairs:
        interp.set_tensor(d["index"], x.astype(d["dtype"]))
    interp.invoke()
    outs = sorted(interp.get_output_details(), key=lambda d: d["name"])
    return [np.array(interp.get_tensor(d["index"])) for d in outs]


def _input_name(tensor_name: str, by_name: dict) -> str:
    base = tensor_name.split(":")[0].removeprefix("serving_default_")
    if base in by_name:
        return base
    raise KeyError(f"TFLite input {tensor_name!r} is none of the model's inputs {sorted(by_name)}")


def constants(interp) -> list[tuple[str, np.ndarray]]:
    """Tensors with data in the flatbuffer (weights); intermediates raise or are empty."""
    io = {d["index"] for d in interp.get_input_details() + interp.get_output_details()}
    out = []
    for d in interp.get_tensor_details():
        if d["index"] in io or not len(d["shape"]):
            continue
        try:
            v = np.array(interp.get_tensor(d["index"]))
        except ValueError:
            continue
        out.append((d["name"], v))
    return out


LISTING_FAILED = "parameter listing {why}; outputs judged alone"


def _loaded(interp, ctx: LoadContext, **notes) -> Loaded:
    notes |= signature_change(ctx, io_signature(interp))
    outputs = run_interpreter(interp, ctx.inputs, ctx.input_names)  # the user's calls
    # ours, not the user's: in a forked copy, so that even its SIGSEGV (seen on sparse DENSIFY
    # tensors) leaves the outputs above to be judged
    consts, why = in_child(lambda: constants(interp))
    if why is not None:
        return Loaded(outputs, None, {"params": "not read: the tensor listing "
                                                "(get_tensor_details) did not complete",
                                      "parameter_listing": LISTING_FAILED.format(why=why),
                                      **notes})
    quant = any(v.dtype in (np.int8, np.uint8) for _, v in consts)
    why = ("quantized TFLite stores int8 weights with scales: no float parameter to compare"
           if quant else "TFLite names weights after the ops reading them and transposes "
           "them into its layouts: looked up by value instead")
    return Loaded(outputs, None, {"params": f"not exposed by name: {why}",
                                  "constants_listed": len(consts),
                                  **find_reference(consts, ctx.ref_params), **notes})


def _tf_lite(ctx: LoadContext) -> Loaded:
    check_tflite_flatbuffer(ctx.artifact / FILENAME)  # a cut file: a load-error, not SIGSEGV
    interp = tf.lite.Interpreter(model_path=str(ctx.artifact / FILENAME))
    loaded = _loaded(interp, ctx)
    loaded.notes |= _delegate_effect(ctx, loaded.outputs)
    return loaded


def _delegate_effect(ctx: LoadContext, outputs: list) -> dict:
    """How far the runtime's default delegate (XNNPACK) alone moves the outputs: the same file
    and inputs through the built-in kernels only.  Where a difference under a new TF is about
    this size, it is the runtime's kernels, which re-saving the file cannot change."""
    resolver = getattr(getattr(tf.lite.experimental, "OpResolverType", None),
                       "BUILTIN_WITHOUT_DEFAULT_DELEGATES", None)
    if resolver is None:
        return {}
    try:
        plain = tf.lite.Interpreter(model_path=str(ctx.artifact / FILENAME),
                                    experimental_op_resolver_type=resolver)
        others = run_interpreter(plain, ctx.inputs, ctx.input_names)
    except Exception as exc:  # noqa: BLE001 - a note about the runtime, never the verdict
        return {"without_default_delegate": f"not run: {type(exc).__name__}"}
    diffs = [float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
             for a, b in zip(outputs, others) if a.dtype.kind == "f" and a.shape == b.shape
             and a.size]
    return {"default_delegate_max_abs_diff": max(diffs)} if diffs else {}


def _litert(ctx: LoadContext) -> Loaded:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise Unsupported(f"ai_edge_litert is not installed in this environment ({exc})") \
            from None
    import importlib.metadata as md

    check_tflite_flatbuffer(ctx.artifact / FILENAME)
    interp = Interpreter(model_path=str(ctx.artifact / FILENAME))
    return _loaded(interp, ctx, ai_edge_litert=md.version("ai-edge-litert"))


LOADERS = {"tf.lite.Interpreter": _tf_lite, "ai_edge_litert.interpreter.Interpreter": _litert}
