"""`frozen-graph`: variables folded into constants (convert_variables_to_constants_v2), written
as a GraphDef `.pb` with a sidecar JSON naming the input and output tensors; loaded the TF1 way,
tf.compat.v1.import_graph_def into a fresh graph, fetched by tensor name in a Session."""

from __future__ import annotations

import json

import numpy as np

from .. import safety
from ..runtime import LoadContext, Loaded, tf
from ._converted import find_reference, inference_function

NAME = "frozen-graph"
FILENAME = "frozen_graph.pb"
SIDECAR = "frozen_graph.json"


def unsupported_reason(built) -> str | None:
    return None


def save(built, art) -> dict:
    # A private module, but the one every "freeze a TF2 model" guide (and TF's own docs) uses.
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    frozen = convert_variables_to_constants_v2(inference_function(built))
    graph_def = frozen.graph.as_graph_def()
    (art / FILENAME).write_bytes(graph_def.SerializeToString())
    outputs = tf.nest.flatten(frozen.structured_outputs)
    io = {"inputs": [t.name for t in frozen.inputs], "outputs": [t.name for t in outputs]}
    (art / SIDECAR).write_text(json.dumps(io, indent=1))
    return {"on_disk_format": "graphdef-protobuf", "entry": FILENAME, "tensors": io,
            "nodes": len(graph_def.node)}


def graph_constants(graph_def) -> list[tuple[str, np.ndarray]]:
    out = []
    for node in graph_def.node:
        if node.op == "Const" and node.attr["value"].tensor.dtype != 0:
            v = tf.make_ndarray(node.attr["value"].tensor)
            if v.dtype.kind == "f" and v.ndim:
                out.append((node.name, v))
    return out


def _import_graph_def(ctx: LoadContext) -> Loaded:
    safety.refuse_graph_ops(ctx.artifact / FILENAME)  # its file and print ops, before TF
    io = json.loads((ctx.artifact / SIDECAR).read_text())
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((ctx.artifact / FILENAME).read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        outs = sess.run(io["outputs"], feed_dict=dict(zip(io["inputs"], ctx.inputs)))
    consts = graph_constants(graph_def)
    notes = {"params": "not exposed by name: frozen variables become Const nodes named after "
                       "the ops that read them; looked up by value instead",
             **find_reference(consts, ctx.ref_params)}
    return Loaded([np.asarray(o) for o in outs], None, notes)


def _wrap_function(ctx: LoadContext) -> Loaded:
    """The TF2 way to run a frozen graph (TF's migration guide, `wrap_frozen_graph`): import it
    inside tf.compat.v1.wrap_function and prune to the named input and outputs; no Session."""
    safety.refuse_graph_ops(ctx.artifact / FILENAME)  # its file and print ops, before TF
    io = json.loads((ctx.artifact / SIDECAR).read_text())
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((ctx.artifact / FILENAME).read_bytes())

    def _imports():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(_imports, [])
    graph = wrapped.graph
    fn = wrapped.prune([graph.as_graph_element(n) for n in io["inputs"]],
                       [graph.as_graph_element(n) for n in io["outputs"]])
    outs = fn(*[tf.constant(x) for x in ctx.inputs])
    notes = {"params": "not exposed by name: frozen variables become Const nodes named after "
                       "the ops that read them; looked up by value instead",
             **find_reference(graph_constants(graph_def), ctx.ref_params)}
    return Loaded([np.asarray(o) for o in outs], None, notes)


LOADERS = {"tf.compat.v1.import_graph_def": _import_graph_def,
           "tf.compat.v1.wrap_function": _wrap_function}
