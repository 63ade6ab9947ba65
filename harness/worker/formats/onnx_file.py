"""`onnx`: tf2onnx on the save side, onnxruntime.InferenceSession on the load side.  Both are
optional packages: where one did not install for this TF, its side says `unsupported`."""

from __future__ import annotations

import importlib.metadata as md

import numpy as np

from ..runtime import LoadContext, Loaded, Unsupported
from ._converted import find_reference, inference_tf_function, input_specs
from .savedmodel import signature_change

NAME = "onnx"
FILENAME = "model.onnx"


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def unsupported_reason(built) -> str | None:
    if _version("tf2onnx") is None:
        return "tf2onnx is not installed in this environment (its optional install failed)"
    return None


def save(built, art) -> dict:
    import tf2onnx

    notes: dict = {}
    path = str(art / FILENAME)
    if built.kind == "keras":
        try:  # what users call first
            proto, _ = tf2onnx.convert.from_keras(built.obj, input_signature=input_specs(built),
                                                  output_path=path)
            notes["converter"] = "tf2onnx.convert.from_keras"
        except Exception as exc:  # Keras 3 models are not what from_keras expects
            notes["from_keras_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            proto = None
    else:
        proto = None
    if proto is None:
        fn = inference_tf_function(built)
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=input_specs(built),
                                                 output_path=path)
        notes["converter"] = "tf2onnx.convert.from_function"
    opsets = {(o.domain or "ai.onnx"): o.version for o in proto.opset_import}
    sigs = {"graph": {"inputs": _value_infos(proto.graph.input, proto.graph.initializer),
                      "outputs": _value_infos(proto.graph.output, [])}}
    return {"on_disk_format": "onnx-protobuf", "entry": FILENAME, "conversion": notes,
            "quantized": built.name == "qat",
            "opset": opsets.get("ai.onnx"), "tf2onnx": _version("tf2onnx"),
            "onnx": _version("onnx"), "producer_name": proto.producer_name,
            "producer_version": proto.producer_version, "signatures": sigs}


def _value_infos(values, initializers) -> dict:
    """name -> [element type, shape] of graph inputs/outputs (symbolic dims as their names)."""
    from onnx import TensorProto

    skip = {t.name for t in initializers}
    out = {}
    for v in values:
        if v.name in skip:
            continue
        t = v.type.tensor_type
        out[v.name] = [TensorProto.DataType.Name(t.elem_type).lower(),
                       [d.dim_value if d.HasField("dim_value") else "?" for d in t.shape.dim]]
    return out


def initializers(path) -> list[tuple[str, np.ndarray]] | None:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    model = onnx.load(str(path))
    return [(t.name, numpy_helper.to_array(t)) for t in model.graph.initializer]


def _onnx_feed(inputs, ctx: LoadContext) -> dict:
    """The stored inputs by the graph's input names (tf2onnx keeps the spec names, maybe with
    a `:0`); a single input whatever its name."""
    if len(inputs) == 1:
        return {inputs[0].name: ctx.inputs[0]}
    by_name = dict(zip(ctx.input_names, ctx.inputs))
    return {i.name: by_name[i.name.split(":")[0]] for i in inputs}


def _inference_session(ctx: LoadContext) -> Loaded:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise Unsupported(f"onnxruntime is not installed in this environment ({exc})") from None
    path = ctx.artifact / FILENAME
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = [np.asarray(o) for o in sess.run(None, _onnx_feed(sess.get_inputs(), ctx))]
    notes = {"onnxruntime": ort.__version__, "opset": ctx.manifest.get("opset"),
             "inputs": {i.name: [i.type, i.shape] for i in sess.get_inputs()},
             "outputs": {o.name: [o.type, o.shape] for o in sess.get_outputs()}}
    try:
        import onnx

        proto = onnx.load(str(path))
        notes |= signature_change(ctx, {"graph": {
            "inputs": _value_infos(proto.graph.input, proto.graph.initializer),
            "outputs": _value_infos(proto.graph.output, [])}})
    except ImportError:
        pass
    inits = initializers(path)
    if inits is None:
        notes["params"] = "not exposed: the onnx package is not installed here"
    else:
        notes["params"] = ("not exposed by name: tf2onnx names initializers after the ops "
                           "reading them and transposes kernels: looked up by value instead")
        notes |= find_reference(inits, ctx.ref_params)
    return Loaded(outputs, None, notes)


LOADERS = {"onnxruntime.InferenceSession": _inference_session}
