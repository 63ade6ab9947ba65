"""Inspect phase: what an artifact holds, read inside a TF environment.

Request: {"id", "artifact", "tensorboard": DIR or None}.  Result: detected format, producer
versions recorded in the artifact itself, signatures, variables (name, shape, dtype) and the
parameter count; with `tensorboard`, the graph written as an event file for the Graphs tab.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .detect import detect, recorded_producer
from .isolate import in_child
from .runtime import tf
from .safety import UnsafeArtifact, check_h5, read_member, refuse_graph_ops


def _var(name, shape, dtype) -> dict:
    return {"name": str(name), "shape": [None if d is None else int(d) for d in shape],
            "dtype": str(dtype)}


def _count(variables: list[dict]) -> int:
    return int(sum(np.prod([d or 0 for d in v["shape"]], dtype=np.int64) for v in variables))


def _checkpoint_vars(prefix) -> list[dict]:
    reader = tf.train.load_checkpoint(str(prefix))
    dtypes = reader.get_variable_to_dtype_map()
    return [_var(k, s, dtypes[k].name) for k, s in sorted(reader.get_variable_to_shape_map()
                                                           .items())
            if k != "_CHECKPOINTABLE_OBJECT_GRAPH"]


def _dtype(enum_value) -> str | None:
    return tf.dtypes.as_dtype(enum_value).name if enum_value else None


def _tensor_info(t) -> dict:
    shape = None if t.tensor_shape.unknown_rank else [d.size for d in t.tensor_shape.dim]
    info = {"name": t.name or None, "dtype": _dtype(t.dtype), "shape": shape}
    if t.HasField("composite_tensor"):
        info["composite"] = True
    return info


def _savedmodel(path: Path, out: dict, tb) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((path / "saved_model.pb").read_bytes())
    mg = sm.meta_graphs[0]
    info = mg.meta_info_def
    out["producer_in_artifact"] = {"tensorflow_version": info.tensorflow_version or None,
                                   "tensorflow_git_version": info.tensorflow_git_version or None,
                                   "tags": list(info.tags)}
    keras_meta = path / "keras_metadata.pb"
    if keras_meta.is_file():
        out["producer_in_artifact"]["keras_metadata"] = True
    out["signatures"] = {
        key: {"method": sig.method_name,
              "inputs": {k: _tensor_info(v) for k, v in sig.inputs.items()},
              "outputs": {k: _tensor_info(v) for k, v in sig.outputs.items()}}
        for key, sig in mg.signature_def.items()}
    if (path / "variables" / "variables.index").is_file():
        out["variables"] = _checkpoint_vars(path / "variables" / "variables")
        out["variables_note"] = "keys of variables/variables.index"
    else:
        out["variables"] = []
        n = _graph_variables(mg)
        if n:
            out["error"] = (f"a SavedModel without its variables: its graph has {n} "
                            "variable(s) but variables/variables.index is missing")
    if tb:
        try:  # a graph that reads, writes or prints outside the model is not loaded to draw it
            refuse_graph_ops(path)
        except UnsafeArtifact as exc:
            out["tensorboard_graph"] = None
            out["tensorboard_note"] = f"not loaded to draw it: {exc}"
            return
        try:  # drawing needs a real load, which this TF may refuse: the rest still stands
            loaded = tf.saved_model.load(str(path))
        except Exception as exc:
            out["tensorboard_graph"] = None
            out["tensorboard_note"] = (f"tf.saved_model.load failed here, nothing to draw: "
                                       f"{type(exc).__name__}: {str(exc)[:300]}")
            return
        sigs = dict(loaded.signatures)
        if not sigs:
            out["tensorboard_graph"] = None
            out["tensorboard_note"] = "no signature to draw"
            return
        key = "serving_default" if "serving_default" in sigs else sorted(sigs)[0]
        _write_graph(sigs[key].graph, tb)
        out["tensorboard_graph"] = f"signature {key!r}"


def _graph_variables(mg) -> int:
    """Variables a SavedModel's metagraph declares: TF2 object-graph variables, or TF1
    variable ops."""
    objects = sum(1 for n in mg.object_graph_def.nodes if n.HasField("variable"))
    ops = sum(1 for n in mg.graph_def.node if n.op in ("VarHandleOp", "VariableV2", "Variable"))
    return objects or ops


def _graphdef(path: Path, out: dict, tb) -> None:
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(path.read_bytes())
    out["producer_in_artifact"] = {"graph_def_producer": gd.versions.producer}
    out["signatures"] = {"graph": {
        "inputs": {n.name: {"dtype": _dtype(n.attr["dtype"].type)}
                   for n in gd.node if n.op == "Placeholder"},
        "nodes": len(gd.node)}}
    out["variables"] = [_var(n.name, [d.size for d in n.attr["value"].tensor.tensor_shape.dim],
                             _dtype(n.attr["value"].tensor.dtype))
                        for n in gd.node if n.op == "Const"
                        and n.attr["value"].tensor.tensor_shape.dim]
    out["variables_note"] = "Const nodes with a shape (frozen variables and other constants)"
    if tb:
        g = tf.Graph()
        with g.as_default():
            tf.compat.v1.import_graph_def(gd, name="")
        _write_graph(g, tb)
        out["tensorboard_graph"] = "the GraphDef"


def _checkpoint(fmt: str, prefix: Path, out: dict, tb) -> None:
    out["variables"] = _checkpoint_vars(prefix)
    meta = prefix.with_name(prefix.name + ".meta")
    if fmt == "tf1-checkpoint" and meta.is_file():
        from tensorflow.core.protobuf import meta_graph_pb2

        mg = meta_graph_pb2.MetaGraphDef()
        mg.ParseFromString(meta.read_bytes())
        out["producer_in_artifact"] = {
            "tensorflow_version": mg.meta_info_def.tensorflow_version or None,
            "tensorflow_git_version": mg.meta_info_def.tensorflow_git_version or None}
        out["signatures"] = {"graph": {"placeholders": [
            n.name for n in mg.graph_def.node if n.op == "Placeholder"]}}
        if tb:
            g = tf.Graph()
            with g.as_default():
                tf.compat.v1.train.import_meta_graph(str(meta))
            _write_graph(g, tb)
            out["tensorboard_graph"] = "the .meta graph"
    elif tb:
        out["tensorboard_graph"] = None
        out["tensorboard_note"] = "an object-based checkpoint holds values, not a graph"


def _hdf5(path: Path, out: dict) -> None:
    import h5py

    from .formats._h5py_reader import read_params

    with h5py.File(path, "r") as f:
        check_h5(f, path.name, path.stat().st_size)
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()
                 if k in ("keras_version", "backend")}
        out["producer_in_artifact"] = attrs or None
        out["format"] = "h5" if "model_config" in f.attrs else "weights-h5"
        params, layout = read_params(f)
    out["variables"] = [_var(n, v.shape, v.dtype) for n, v in params]
    out["variables_note"] = f"read with h5py, layout {layout}"


def _keras_zip(path: Path, out: dict) -> None:
    import io

    import h5py

    from .formats._h5py_reader import read_params

    # read_member checks the archive's declared sizes first: a zip bomb is refused unread
    raw = read_member(path, "metadata.json", limit=1 << 20)
    meta = json.loads(raw) if raw is not None else None
    blob = read_member(path, "model.weights.h5", limit=2 << 30)
    out["producer_in_artifact"] = meta
    if blob is not None:
        with h5py.File(io.BytesIO(blob), "r") as f:
            check_h5(f, f"{path.name}: model.weights.h5", len(blob))
            params, layout = read_params(f)
        out["variables"] = [_var(n, v.shape, v.dtype) for n, v in params]
        out["variables_note"] = f"model.weights.h5 inside the zip, layout {layout}"


def check_tflite_flatbuffer(path: Path) -> None:
    """Walk the TFLite flatbuffer before the interpreter gets it: a cut or corrupted file
    makes tf.lite.Interpreter read past the end (SIGSEGV measured on a file cut in half; a
    file cut after its header is even read as a model with no weights)."""
    from tensorflow.lite.python import schema_py_generated as schema

    buf = path.read_bytes()
    try:
        m = schema.Model.GetRootAsModel(buf, 0)
        n_buffers = m.BuffersLength()
        for i in range(n_buffers):
            b = m.Buffers(i)
            if b.DataLength():
                b.DataAsNumpy()
            offset = getattr(b, "Offset", lambda: 0)()
            if offset > 1 and offset + getattr(b, "Size", lambda: 0)() > len(buf):
                raise ValueError(f"buffer {i} ends past the end of the file")
        for g in range(m.SubgraphsLength()):
            sub = m.Subgraphs(g)
            for t in range(sub.TensorsLength()):
                tensor = sub.Tensors(t)
                tensor.Name()
                if tensor.Buffer() >= n_buffers:
                    raise ValueError(f"tensor {t} names buffer {tensor.Buffer()} of {n_buffers}")
            for o in range(sub.OperatorsLength()):
                sub.Operators(o).InputsAsNumpy()
    except Exception as exc:
        raise ValueError(f"a truncated or corrupt TFLite flatbuffer ({len(buf)} bytes; "
                         f"{type(exc).__name__}: {exc})") from None


_MODEL_TYPES = {1: "TF_SAVED_MODEL", 2: "KERAS_MODEL", 3: "TF_CONCRETE_FUNCTIONS",
                4: "TF_GRAPH_DEF", 5: "TF_SESSION", 6: "JAX", 7: "PYTORCH"}
_OPTIMIZATIONS = {1001: "PTQ_FLOAT16", 1002: "PTQ_DYNAMIC_RANGE", 1003: "PTQ_FULL_INTEGER",
                  1004: "PTQ_INT16", 2000: "QUANTIZATION_AWARE_TRAINING",
                  3001: "RANDOM_SPARSITY", 3002: "BLOCK_SPARSITY", 3003: "STRUCTURED_SPARSITY"}


def tflite_metadata(buf: bytes) -> dict:
    """What a .tflite records about its making, from the model's `metadata` list: the
    converter's `CONVERSION_METADATA` (a flatbuffer, tensorflow/lite/schema/
    conversion_metadata.fbs: Environment.tensorflow_version, api_version, model_type; Options'
    optimization modes; written by TFLiteConverter unless exclude_conversion_metadata) and
    `min_runtime_version` (the oldest TFLite runtime that runs the ops, a NUL-padded string:
    about the runtime, not who converted it)."""
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.Model.GetRootAsModel(buf, 0)
    found: dict = {}
    for j in range(m.MetadataLength()):
        entry = m.Metadata(j)
        name = (entry.Name() or b"").decode("utf-8", "replace")
        if entry.Buffer() >= m.BuffersLength():
            continue
        data = m.Buffers(entry.Buffer()).DataAsNumpy()
        data = data.tobytes() if hasattr(data, "tobytes") else b""
        if name == "min_runtime_version":
            found["min_runtime_version"] = data.split(b"\0")[0].decode("ascii", "replace")
        elif name == "CONVERSION_METADATA" and data:
            found |= _conversion_metadata(data)
        elif name:
            found.setdefault("metadata_entries", []).append(name)
    return found


def _conversion_metadata(data: bytes) -> dict:
    try:
        from tensorflow.lite.python import conversion_metadata_schema_py_generated as cm
    except ImportError as exc:  # older TF: the entry is there, its reader is not
        return {"conversion_metadata": f"present; this TF cannot read it ({exc})"}
    meta = cm.ConversionMetadata.GetRootAsConversionMetadata(data, 0)
    out: dict = {}
    env = meta.Environment()
    if env is not None:
        version = env.TensorflowVersion()
        out["tensorflow_version"] = version.decode("utf-8", "replace") if version else None
        out["converter_api_version"] = int(env.ApiVersion())
        out["converted_from"] = _MODEL_TYPES.get(int(env.ModelType()), str(env.ModelType()))
    opts = meta.Options()
    if opts is not None and opts.ModelOptimizationModesLength():
        out["optimizations"] = [_OPTIMIZATIONS.get(int(v), str(int(v))) for v in
                                opts.ModelOptimizationModesAsNumpy()]
    return {k: v for k, v in out.items() if v is not None}


def _tflite(path: Path, out: dict) -> None:
    check_tflite_flatbuffer(path)
    try:
        recorded = tflite_metadata(path.read_bytes())
    except Exception as exc:  # what it records is a note; the model may still read
        recorded = {"metadata_error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    if recorded:
        out["producer_in_artifact"] = recorded
    interp = tf.lite.Interpreter(model_path=str(path))
    io_ids = set()

    def det(d):
        io_ids.add(d["index"])
        return {"dtype": np.dtype(d["dtype"]).name, "shape": [int(x) for x in d["shape"]]}
    out["signatures"] = {"model": {"inputs": {d["name"]: det(d)
                                              for d in interp.get_input_details()},
                                   "outputs": {d["name"]: det(d)
                                               for d in interp.get_output_details()}}}
    if hasattr(interp, "get_signature_list"):
        out["signature_list"] = interp.get_signature_list()
    interp.allocate_tensors()

    def listing() -> list[dict]:
        variables = []
        for d in interp.get_tensor_details():
            if d["index"] in io_ids:
                continue
            try:
                interp.get_tensor(d["index"])  # constants hold data; intermediates may not
            except ValueError:
                continue
            variables.append(_var(d["name"], d["shape"], np.dtype(d["dtype"]).name))
        return variables

    # in a forked copy: the listing can SIGSEGV on a file whose inputs and outputs read fine
    # (sparse DENSIFY tensors), and the file is then readable, only its tensors are not listed
    variables, why = in_child(listing)
    if why is not None:
        out["variables_note"] = (f"tensor listing (get_tensor_details) {why}; the file reads "
                                 "and its inputs and outputs are above")
        return
    out["variables"] = variables
    out["variables_note"] = "tensors holding data (weights and other constants)"


def _onnx(path: Path, out: dict) -> None:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        out["error"] = f"the onnx package is not installed in this environment ({exc})"
        return
    m = onnx.load(str(path))
    out["producer_in_artifact"] = {"producer_name": m.producer_name,
                                   "producer_version": m.producer_version,
                                   "ir_version": m.ir_version,
                                   "opsets": {(o.domain or "ai.onnx"): o.version
                                              for o in m.opset_import}}

    def vi(v):
        t = v.type.tensor_type
        return {"dtype": onnx.TensorProto.DataType.Name(t.elem_type).lower(),
                "shape": [d.dim_value if d.HasField("dim_value") else d.dim_param
                          for d in t.shape.dim]}
    inits = {t.name for t in m.graph.initializer}
    out["signatures"] = {"graph": {"inputs": {v.name: vi(v) for v in m.graph.input
                                              if v.name not in inits},
                                   "outputs": {v.name: vi(v) for v in m.graph.output}}}
    out["variables"] = [_var(t.name, numpy_helper.to_array(t).shape,
                             numpy_helper.to_array(t).dtype) for t in m.graph.initializer]
    out["variables_note"] = "graph initializers"


def _write_graph(graph, logdir) -> None:
    Path(logdir).mkdir(parents=True, exist_ok=True)
    with graph.as_default():  # the v1 FileWriter refuses to run eagerly
        writer = tf.compat.v1.summary.FileWriter(str(logdir), graph=graph)
        writer.flush()
        writer.close()


def run_inspect(req: dict, out_dir: Path) -> dict:
    path = Path(req["artifact"])
    fmt, entry = detect(path)
    tb = req.get("tensorboard")
    out = {"status": "ok", "artifact": str(path), "format": fmt, "entry": str(entry),
           "recorded_by_harness": recorded_producer(path)}
    if fmt in ("savedmodel", "keras-savedmodel"):
        _savedmodel(entry, out, tb)
    elif fmt == "frozen-graph":
        _graphdef(entry, out, tb)
    elif fmt in ("tf-checkpoint", "tf1-checkpoint"):
        _checkpoint(fmt, entry, out, tb)
    elif fmt in ("h5", "weights-h5"):
        _hdf5(entry, out)
    elif fmt == "keras":
        _keras_zip(entry, out)
    elif fmt == "tflite":
        _tflite(entry, out)
    elif fmt == "onnx":
        _onnx(entry, out)
    else:
        out["error"] = "not a model format this harness knows (from its bytes and layout)"
    if tb and "tensorboard_graph" not in out:
        out["tensorboard_graph"] = None
        out.setdefault("tensorboard_note", f"{fmt} holds no TensorFlow graph to draw")
    if "variables" in out:
        roles = {}
        for v in out["variables"]:
            roles.setdefault(_role(v["name"]), []).append(v)
        out["parameter_count"] = _count(roles.get("model", []))
        out["state_counts"] = {role: _count(vs) for role, vs in roles.items() if role != "model"}
    return out


def _role(key: str) -> str:
    """What a stored value is: a model parameter, or the optimizer's / metrics' / a counter's
    state (object-graph keys say so: `.OPTIMIZER_SLOT`, `optimizer/`, `keras_api/metrics/`)."""
    if ".OPTIMIZER_SLOT" in key or key.startswith(("optimizer/", "optimizer.")) \
            or "/optimizer/" in key:
        return "optimizer"
    if "keras_api/metrics/" in key or key.startswith("metrics/"):
        return "metrics"
    if key in ("save_counter/.ATTRIBUTES/VARIABLE_VALUE", "global_step"):
        return "counter"
    return "model"
