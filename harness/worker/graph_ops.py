"""The ops of a SavedModel's graph that reach outside the model: read or write a file, list a
folder, print, save or restore a checkpoint at a path of the graph's choosing, or feed the
debugger.  Loading a SavedModel runs its restore and init ops and calling it runs its
functions, so these are found (from saved_model.pb's bytes, stdlib only) before any loader
gets the folder.

What is looked at: every MetaGraph's graph_def nodes and every function of its library (TF's
own `saved_model_cli scan` looks at the same set, `meta_graph.ops_used_by_graph_def`).
Checkpoint ops are what every SavedModel's own saver is made of, so they are allowed there:
in the graph_def nodes its SaverDef names (with what they are computed from) and in the
functions only those nodes call; the loaders run that saver on the SavedModel's own
variables/ folder.  Elsewhere they are refused in what the loaders run: the graph_def nodes
that signatures and op collections (TF1 init / main ops) are computed from, and every function
outside the saver.  (An old saver left in a TF1 graph that nothing runs is not refused; a
saver whose own ops name another path is not told apart.)
"""

from __future__ import annotations

from pathlib import Path

from . import protowire as pw

# saved_model_cli's default denylist (tensorflow/python/tools/saved_model_cli.py
# `_OP_DENYLIST`, the same from TF 2.12 through 2.21).
CLI_DENYLIST = frozenset({"WriteFile", "ReadFile", "PrintV2"})
# The other ops that read, write, list or print outside the model.
IO_OPS = frozenset({
    "Print", "MatchingFiles", "MatchingFilesDataset", "ExperimentalMatchingFilesDataset",
    "ImmutableConst",  # maps a file of the graph's naming into memory
    "WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2",
    "FixedLengthRecordReader", "FixedLengthRecordReaderV2", "TFRecordReader",
    "TFRecordReaderV2", "LMDBReader",
    "TFRecordDataset", "TFRecordDatasetV2", "TextLineDataset", "FixedLengthRecordDataset",
    "FixedLengthRecordDatasetV2", "LMDBDataset", "ExperimentalLMDBDataset", "SqlDataset",
    "ExperimentalSqlDataset", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset",
    "DatasetToTFRecord", "ExperimentalDatasetToTFRecord", "SaveDataset", "SaveDatasetV2",
    "LoadDataset", "SnapshotDataset", "SnapshotDatasetV2", "SnapshotDatasetReader",
    "SnapshotChunkDataset", "DistributedSave",
    "SummaryWriter", "CreateSummaryFileWriter", "CreateSummaryDbWriter", "ImportEvent",
    "FlushSummaryWriter", "LoadAndRemapMatrix", "GenerateVocabRemapping",
})
# Checkpoint I/O: allowed in the SavedModel's own saver only.
SAVER_OPS = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints", "Save", "SaveSlices",
                       "Restore", "RestoreSlice"})


def denied(op: str, checkpoint_ok: bool = False) -> bool:
    """Whether an op type reaches outside the model (checkpoint ops: unless in the saver)."""
    if op in CLI_DENYLIST or op in IO_OPS:
        return True
    if op.startswith("Debug"):  # DebugIdentity, -V2, -V3, DebugNanCount, DebugNumericSummary
        return True
    if op.startswith("Write") and op.endswith("Summary"):  # WriteScalarSummary, ...
        return True
    return op in SAVER_OPS and not checkpoint_ok


# --- the graph, read from the bytes -----------------------------------------------------------
# GraphDef: node = 1, library = 2.  NodeDef: name = 1, op = 2, input = 3, attr = 5 (map).
# AttrValue: list = 1 (ListValue.func = 9), func = 10 (NameAttrList: name = 1, attr = 2).
# FunctionDefLibrary: function = 1.  FunctionDef: signature = 1 (OpDef.name = 1), node_def = 3,
# attr = 5.  MetaGraphDef: meta_info_def = 1 (tags = 4), graph_def = 2, saver_def = 3,
# object_graph_def = 7 (SavedObjectGraph.concrete_functions = 2, a map by name).
# SaverDef: save_tensor_name = 2, restore_op_name = 3.

def _attr_functions(attr_value, out: set) -> None:
    for n, wire, v in pw.fields(attr_value):
        if wire != 2:
            continue
        if n == 10:
            _name_attr_list(v, out)
        elif n == 1:
            for fn in pw.messages(v, 9):
                _name_attr_list(fn, out)


def _name_attr_list(buf, out: set) -> None:
    name = pw.last_string(buf, 1)
    if name:
        out.add(name)
    for _, value in pw.map_entries(buf, 2):
        _attr_functions(value, out)


class Node:
    """One NodeDef: its name, op type, inputs (node names) and the functions its attrs name."""

    __slots__ = ("name", "op", "inputs", "calls")

    def __init__(self, buf):
        self.name = pw.last_string(buf, 1) or ""
        self.op = pw.last_string(buf, 2) or ""
        self.inputs = [s.lstrip("^").split(":")[0] for s in pw.strings(buf, 3)]
        self.calls: set[str] = set()
        for _, value in pw.map_entries(buf, 5):
            _attr_functions(value, self.calls)


class Function:
    __slots__ = ("name", "nodes", "calls")

    def __init__(self, buf):
        self.name = next((pw.last_string(s, 1) for s in pw.messages(buf, 1)), None) or ""
        self.nodes = [Node(n) for n in pw.messages(buf, 3)]
        self.calls: set[str] = set()
        for _, value in pw.map_entries(buf, 5):
            _attr_functions(value, self.calls)
        for node in self.nodes:
            self.calls |= node.calls


def _tensor_node(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def _tensor_info_nodes(info, out: list) -> None:
    """TensorInfo: name = 1, coo_sparse = 4 (three names), composite_tensor = 5 (components = 2)."""
    for n, wire, v in pw.fields(info):
        if wire != 2:
            continue
        if n == 1:
            out.append(_tensor_node(pw.text(v)))
        elif n == 4:
            out.extend(_tensor_node(s) for k in (1, 2, 3) for s in pw.strings(v, k))
        elif n == 5:
            for comp in pw.messages(v, 2):
                _tensor_info_nodes(comp, out)


def _run_roots(mg) -> list[str]:
    """The graph_def nodes the loaders run besides the saver: every signature's tensors
    (signature_def = 5; SignatureDef inputs = 1, outputs = 2, maps of TensorInfo) and every node
    an op collection lists (collection_def = 4; CollectionDef.node_list = 1, value = 1): TF1's
    main / init ops."""
    out: list[str] = []
    for _, sig in pw.map_entries(mg, 5):
        for number in (1, 2):
            for _, info in pw.map_entries(sig, number):
                _tensor_info_nodes(info, out)
    for _, coll in pw.map_entries(mg, 4):
        for node_list in pw.messages(coll, 1):
            out.extend(_tensor_node(s) for s in pw.strings(node_list, 1))
    return out


def _ancestors(nodes: dict[str, Node], roots: list[str]) -> set[str]:
    """The graph_def nodes `roots` name, and what they are computed from."""
    seen, todo = set(), [r for r in roots if r in nodes]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(i for i in nodes[name].inputs if i in nodes)
    return seen


def _reach(functions: dict[str, Function], start) -> set[str]:
    seen, todo = set(), [f for f in start if f in functions]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        f = functions[name]
        todo.extend(c for c in f.calls | {n.op for n in f.nodes} if c in functions)
    return seen


def meta_graph_findings(mg, every_node_runs: bool = False) -> list[tuple[str, str]]:
    """(op type, where) of every denied op in one MetaGraphDef.  `every_node_runs`: a graph
    whose loader fetches names of its own choosing (a frozen graph, a .meta), so every node
    outside the saver counts as run."""
    nodes: dict[str, Node] = {}
    functions: dict[str, Function] = {}
    for gd in pw.messages(mg, 2):
        for buf in pw.messages(gd, 1):
            node = Node(buf)
            nodes[node.name] = node
        for lib in pw.messages(gd, 2):
            for buf in pw.messages(lib, 1):
                fn = Function(buf)
                functions[fn.name] = fn
    saver_roots = []
    for sd in pw.messages(mg, 3):
        for number in (2, 3):
            name = pw.last_string(sd, number)
            if name:
                saver_roots.append(_tensor_node(name))
    saver = _ancestors(nodes, saver_roots)
    executed = (set(nodes) - saver) if every_node_runs else _ancestors(nodes, _run_roots(mg))
    called_by_saver = _reach(functions, {c for n in saver for c in
                                         nodes[n].calls | {nodes[n].op}})
    # Callable from outside the saver: every other graph node's functions, every function the
    # saver does not use, and every function the object graph names (tf.saved_model.load
    # revives those as callables).
    named = {pw.text(k) for og in pw.messages(mg, 7) for k, _ in pw.map_entries(og, 2)}
    outside = {c for name, n in nodes.items() if name not in saver for c in n.calls | {n.op}}
    outside |= (set(functions) - called_by_saver) | named
    callable_ = _reach(functions, outside)
    found = []
    for name, node in nodes.items():
        if denied(node.op, checkpoint_ok=name not in executed):
            found.append((node.op, f"node {name!r}"))
    for fname, fn in functions.items():
        for node in fn.nodes:
            if denied(node.op, checkpoint_ok=fname not in callable_):
                found.append((node.op, f"function {fname!r}"))
    return found


def findings(path) -> list[tuple[str, str]]:
    """(op type, where) of every denied op in a SavedModel folder's saved_model.pb (all its
    MetaGraphs; `where` names the tag set when there are several), in a `.meta` file (one
    MetaGraphDef) or in any other file, read as a GraphDef (a frozen graph)."""
    path = Path(path)
    if not path.is_dir():
        data = path.read_bytes()
        if path.suffix != ".meta":  # a GraphDef: the graph_def (2) of a MetaGraphDef
            data = bytes([2 << 3 | 2]) + _varint_bytes(len(data)) + data
        return meta_graph_findings(memoryview(data), every_node_runs=True)
    buf = memoryview((path / "saved_model.pb").read_bytes())
    graphs = list(pw.messages(buf, 2))
    out = []
    for mg in graphs:
        tags = [t for info in pw.messages(mg, 1) for t in pw.strings(info, 4)]
        for op, where in meta_graph_findings(mg):
            out.append((op, f"{where} of the MetaGraph tagged {tags}" if len(graphs) > 1
                        else where))
    return out


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def describe(found: list[tuple[str, str]], limit: int = 3) -> str:
    """'WriteFile in function '__inference_f_12', PrintV2 in node 'p' and 2 more'."""
    parts = [f"{op} in {where}" for op, where in found[:limit]]
    more = len(found) - limit
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")
