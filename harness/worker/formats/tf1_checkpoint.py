"""`tf1-checkpoint`: a tf.compat.v1 graph saved with tf.compat.v1.train.Saver (.meta, .index,
.data-00000-of-00001, a `checkpoint` state file; global_step in the name, max_to_keep=2).

The graph is the zoo model's own inference graph, imported into a tf.compat.v1 Graph whose
variables are plain v1 resource variables named like the model's parameters ("dense/kernel"):
what a TF1 training script left behind, built from the same numbers as the other formats.
"""

from __future__ import annotations

import json
import re

import numpy as np

from .. import safety, zoo
from ..runtime import LoadContext, Loaded, state_params, tf, to_numpy
from ._converted import INPUT_NAME, inference_function, input_specs
from .frozen_graph import SIDECAR
from .tf_checkpoint import key_map

NAME = "tf1-checkpoint"
PREFIX = "model.ckpt"
OUTPUT = "y"
STEPS = (1, 2)  # saved twice: the state file and max_to_keep have something to do


def unsupported_reason(built) -> str | None:
    if not hasattr(tf.compat, "v1") or not hasattr(tf.compat.v1.train, "Saver"):
        return "tf.compat.v1.train.Saver does not exist in this TF"
    if built.kind != "module" and state_params(built.obj):
        # A TF1 script would build its tables with tf.compat.v1.lookup and an initializer op;
        # the model's own hash table has no v1-variable form to rebuild it from.
        return ("the harness writes this format by rebuilding the model as a graph of "
                "tf.compat.v1 variables; its lookup table (the vocabulary of "
                "TextVectorization/StringLookup) is no variable, so it has no such rebuild")
    return None


def param_name(raw: str, scope: str) -> str:
    name = re.sub(r":\d+$", "", raw.strip("/"))
    return name[len(scope) + 1:] if name.startswith(scope + "/") else name


def build_v1_graph(built, graph, scope: str = ""):
    """In `graph`: placeholder `x`, one v1 variable per model parameter, the model's inference
    graph wired to them, `y`.  Returns (variables by parameter name, initializer feeds)."""
    fn = inference_function(built)  # traced eagerly, outside the v1 graph
    weights = built.obj.variables if built.kind == "module" else built.obj.weights
    by_handle = {id(w.handle): w for w in weights}
    values = {id(c): to_numpy(c) for c in fn.captured_inputs if id(c) not in by_handle}
    values |= {id(w.handle): to_numpy(w) for w in weights}
    graph_def = fn.graph.as_graph_def()
    with graph.as_default():
        return _wire(built, fn, graph_def, by_handle, values, scope)


def _wire(built, fn, graph_def, by_handle, values, scope):
    specs = input_specs(built)
    input_map = {}
    for spec, inp in zip(specs, fn.inputs):  # the tf.function's first inputs are the model's
        input_map[inp.name] = tf.compat.v1.placeholder(spec.dtype, spec.shape, name=spec.name)
    variables, feeds = {}, {}
    for captured, placeholder in zip(fn.captured_inputs, fn.graph.internal_captures):
        w = by_handle.get(id(captured))
        if w is None:  # a captured constant, not a parameter
            input_map[placeholder.name] = tf.constant(values[id(captured)])
            continue
        name = param_name(str(getattr(w, "path", None) or w.name), built.name)
        value = values[id(captured)]
        init = tf.compat.v1.placeholder(value.dtype, value.shape)
        var = tf.compat.v1.Variable(init, name=scope + name, use_resource=True)
        variables[name], feeds[init] = var, value
        input_map[placeholder.name] = var.handle
    ys = tf.compat.v1.import_graph_def(graph_def, input_map=input_map,
                                       return_elements=[t.name for t in fn.outputs],
                                       name=scope + "net")
    for i, y in enumerate(ys):  # `y`, then `y_1`, ... (outputs in tf.nest order)
        tf.identity(y, name=scope + output_name(i))
    return variables, feeds


def output_name(i: int) -> str:
    return OUTPUT if i == 0 else f"{OUTPUT}_{i}"


def save(built, art) -> dict:
    graph = tf.Graph()
    variables, feeds = build_v1_graph(built, graph)
    with graph.as_default():
        step = tf.compat.v1.train.get_or_create_global_step()
        saver = tf.compat.v1.train.Saver(max_to_keep=2)
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run([v.initializer for v in variables.values()], feed_dict=feeds)
            sess.run(step.initializer)
            for s in STEPS:
                sess.run(step.assign(s))
                path = saver.save(sess, str(art / PREFIX), global_step=step)
            params = [(n, np.asarray(v)) for n, v in zip(variables, sess.run(
                list(variables.values())))]
    return {"on_disk_format": "tf1-saver-checkpoint", "entry": path.rsplit("/", 1)[-1],
            "variables": {n: [list(v.shape), str(v.dtype)] for n, v in params},
            "checkpoint_keys": key_map(path, params)}


def _latest(ctx: LoadContext) -> str:
    prefix = tf.train.latest_checkpoint(str(ctx.artifact))  # reads the `checkpoint` file
    if prefix is None:
        raise FileNotFoundError(f"no `checkpoint` state file in {ctx.artifact}")
    return prefix


def _run(sess, graph, ctx: LoadContext, scope: str = "") -> list[np.ndarray]:
    side = ctx.artifact / SIDECAR  # a user's graph: its own tensor names (fixtures add --outputs)
    if side.is_file():
        io = json.loads(side.read_text())
        feed = {graph.get_tensor_by_name(scope + n): x for n, x in zip(io["inputs"], ctx.inputs)}
        return [np.asarray(y) for y in sess.run([graph.get_tensor_by_name(scope + n)
                                                 for n in io["outputs"]], feed)]
    names = [INPUT_NAME] if len(ctx.inputs) == 1 else ctx.input_names
    feed = {graph.get_tensor_by_name(f"{n}:0"): x for n, x in zip(names, ctx.inputs)}
    fetch, i = [], 0
    while True:
        try:
            fetch.append(graph.get_tensor_by_name(f"{scope}{output_name(i)}:0"))
        except KeyError:
            break
        i += 1
    return [np.asarray(y) for y in sess.run(fetch, feed)]


def _import_meta_graph(ctx: LoadContext) -> Loaded:
    prefix = _latest(ctx)
    safety.refuse_graph_ops(prefix + ".meta")  # its file and print ops, before TF imports it
    graph = tf.Graph()
    with graph.as_default():
        saver = tf.compat.v1.train.import_meta_graph(prefix + ".meta")
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, prefix)
            outputs = _run(sess, graph, ctx)
            variables = [v for v in tf.compat.v1.global_variables()
                         if v.op.name != "global_step"]
            values = sess.run(variables)
    return Loaded(outputs, [(v.op.name, np.asarray(x)) for v, x in zip(variables, values)],
                  {"checkpoint": prefix.rsplit("/", 1)[-1]})


def _rebuilt_var_list(ctx: LoadContext) -> Loaded:
    """The load side rebuilds the graph from its own code under another scope and maps the
    checkpoint's names onto its variables: Saver(var_list={"name in checkpoint": variable})."""
    prefix = _latest(ctx)
    fresh = zoo.build(ctx.model, train=False)
    graph = tf.Graph()
    variables, feeds = build_v1_graph(fresh, graph, scope="rebuilt/")
    with graph.as_default():
        saver = tf.compat.v1.train.Saver(var_list=dict(variables))
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, prefix)
            outputs = _run(sess, graph, ctx, "rebuilt/")
            values = sess.run(list(variables.values()))
    return Loaded(outputs, [(n, np.asarray(x)) for n, x in zip(variables, values)],
                  {"checkpoint": prefix.rsplit("/", 1)[-1]})


def _reader(ctx: LoadContext) -> Loaded:
    prefix = _latest(ctx)
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    params = [(k, np.asarray(reader.get_tensor(k))) for k in sorted(shapes)]
    kept = [f for f in sorted(ctx.artifact.iterdir()) if ".index" in f.name]
    return Loaded(None, params, {"keys": len(params), "checkpoint": prefix.rsplit("/", 1)[-1],
                                 "kept_checkpoints": [f.name for f in kept]})


LOADERS = {
    "tf.compat.v1.train.import_meta_graph": _import_meta_graph,
    "tf.compat.v1.train.Saver[var_list]": _rebuilt_var_list,
    "tf.train.load_checkpoint": _reader,
}
