"""Nothing from an artifact runs unless the user says so (issue 27): the Lambda scan reads
saved_model.pb's own object metadata (the pre-2.5 Keras layout), a SavedModel's graph is
scanned for file, print and debugger ops before any loader gets it, `--unsafe` is the one way
past and the row says so; and HDF5 datasets are bounded like zip members.

The hostile saved_model.pb files of the fast tests are written field by field (no TF); the
HDF5 bound's fast test uses a stand-in for an open h5py.File (h5py is not on the host), the
real-TF tests build each payload with TF 2.15 (Keras 2) and load it through a real worker."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness import execute
from harness.worker import graph_ops, safety

REPO = Path(__file__).resolve().parent.parent


# --- protobuf, written by hand ----------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def fld(number: int, payload) -> bytes:
    payload = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def node(name: str, op: str, inputs=(), calls: str | None = None) -> bytes:
    """NodeDef (name 1, op 2, input 3, attr 5); `calls` names a function in attr `f`."""
    out = fld(1, name) + fld(2, op) + b"".join(fld(3, i) for i in inputs)
    if calls:
        out += fld(5, fld(1, "f") + fld(2, fld(10, fld(1, calls))))
    return out


def function(name: str, *nodes: bytes) -> bytes:
    return fld(1, fld(1, name)) + b"".join(fld(3, n) for n in nodes)


def meta_graph(nodes=(), functions=(), saver=None, outputs=(), user_metadata=()) -> bytes:
    graph = b"".join(fld(1, n) for n in nodes)
    if functions:
        graph += fld(2, b"".join(fld(1, f) for f in functions))
    out = fld(1, fld(4, "serve")) + fld(2, graph)
    if saver:
        out += fld(3, fld(1, "saver_filename:0") + fld(2, saver[0]) + fld(3, saver[1]))
    if outputs:
        sig = b"".join(fld(2, fld(1, f"out{i}") + fld(2, fld(1, t)))
                       for i, t in enumerate(outputs))
        out += fld(5, fld(1, "serving_default") + fld(2, sig))
    if user_metadata:
        objects = b"".join(fld(1, fld(4, fld(1, "_tf_keras_layer") + fld(3, json.dumps(m))))
                           for m in user_metadata)
        out += fld(7, objects)
    return out


def saved_model(folder: Path, *graphs: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "saved_model.pb").write_bytes(bytes([8, 1]) + b"".join(fld(2, g) for g in graphs))
    return folder


# A TF2 SavedModel's shape: the serving signature calls a function; the saver's own save and
# restore functions hold the checkpoint ops.
SAVER = [node("saver_filename", "Placeholder"),
         node("StatefulPartitionedCall_1", "StatefulPartitionedCall", ["saver_filename"],
              calls="__inference__traced_save_9"),
         node("StatefulPartitionedCall_2", "StatefulPartitionedCall", ["saver_filename"],
              calls="__inference__traced_restore_10")]
SAVER_FUNCTIONS = [function("__inference__traced_save_9", node("SaveV2", "SaveV2"),
                            node("MergeV2Checkpoints", "MergeV2Checkpoints")),
                   function("__inference__traced_restore_10", node("RestoreV2", "RestoreV2"))]
SAVER_DEF = ("StatefulPartitionedCall_1:0", "StatefulPartitionedCall_2")


def tf2_model(folder: Path, *serve_nodes: bytes) -> Path:
    serve = function("__inference_serve_5", node("mul", "Mul"), *serve_nodes)
    nodes = [node("x", "Placeholder"),
             node("StatefulPartitionedCall", "StatefulPartitionedCall", ["x"],
                  calls="__inference_serve_5"), *SAVER]
    return saved_model(folder, meta_graph(nodes, [serve, *SAVER_FUNCTIONS], SAVER_DEF,
                                          ["StatefulPartitionedCall:0"]))


LAMBDA_CONFIG = {"class_name": "Sequential", "config": {"layers": [
    {"class_name": "Dense", "config": {"name": "dense"}},
    {"class_name": "Lambda", "config": {"name": "doubler", "function": ["4wEAAA==", None, None]}}]}}


@pytest.fixture
def safe_mode_on():
    safety.start_request(False)
    yield
    safety.start_request(False)


# --- Lambda layers in saved_model.pb's object metadata ----------------------------------------

def test_a_lambda_in_saved_model_pb_object_metadata_is_refused(tmp_path, safe_mode_on):
    """The pre-2.5 layout: no keras_metadata.pb, the config in user_object.metadata."""
    sm = saved_model(tmp_path / "sm", meta_graph(user_metadata=[
        {"class_name": "Dense", "name": "dense"}, LAMBDA_CONFIG]))
    where, configs = safety.keras_config(sm)
    assert where == "saved_model.pb's object metadata"
    assert safety.lambda_layers(configs) == ["doubler"]
    with pytest.raises(safety.UnsafeArtifact) as exc:
        safety.refuse_lambda_layers(sm, "safe_mode is not available in Keras 2.15.0")
    msg = str(exc.value)
    assert msg.startswith("refused: saved_model.pb's object metadata holds a Lambda layer "
                          "('doubler')") and "--unsafe" in msg and "\n" not in msg


def test_an_empty_keras_metadata_pb_does_not_hide_the_object_metadata(tmp_path, safe_mode_on):
    """Keras reads the object metadata where keras_metadata.pb has no nodes: so does the scan."""
    sm = saved_model(tmp_path / "sm", meta_graph(user_metadata=[LAMBDA_CONFIG]))
    (sm / "keras_metadata.pb").write_bytes(b"")
    with pytest.raises(safety.UnsafeArtifact, match="object metadata holds a Lambda layer"):
        safety.refuse_lambda_layers(sm, "safe_mode is off")


def test_the_refusal_names_the_place_that_holds_the_lambda(tmp_path, safe_mode_on):
    sm = saved_model(tmp_path / "sm", meta_graph(user_metadata=[LAMBDA_CONFIG]))
    (sm / "keras_metadata.pb").write_bytes(fld(1, fld(5, json.dumps({"class_name": "Dense"}))))
    assert safety.keras_config(sm)[0] == "saved_model.pb's object metadata"
    (sm / "saved_model.pb").write_bytes(fld(2, meta_graph()))
    assert safety.keras_config(sm)[0] == "keras_metadata.pb"


def test_unreadable_object_metadata_is_not_vouched_for(tmp_path, safe_mode_on):
    sm = tmp_path / "sm"
    sm.mkdir()
    (sm / "saved_model.pb").write_bytes(fld(2, fld(7, fld(1, fld(4, fld(3, "{not json"))))))
    with pytest.raises(safety.UnsafeArtifact, match="cannot read the Keras config"):
        safety.refuse_lambda_layers(sm, "safe_mode is off")


# --- the graph's file, print and debugger ops -------------------------------------------------

@pytest.mark.parametrize("op", ["WriteFile", "ReadFile", "PrintV2", "MatchingFiles",
                                "DebugIdentityV2", "RestoreV2", "SaveV2", "WriteScalarSummary"])
def test_a_denied_op_in_a_signature_function_is_refused(tmp_path, op, safe_mode_on):
    sm = tf2_model(tmp_path / "sm", node("evil", op))
    assert graph_ops.findings(sm) == [(op, "function '__inference_serve_5'")]
    with pytest.raises(safety.UnsafeArtifact) as exc:
        safety.refuse_graph_ops(sm)
    msg = str(exc.value)
    assert msg.startswith(f"refused: saved_model.pb's graph holds {op} in function "
                          "'__inference_serve_5': ops that read, write or print outside")
    assert "`harness run --unsafe`" in msg and "\n" not in msg


def test_the_savers_own_checkpoint_ops_are_allowed(tmp_path, safe_mode_on):
    sm = tf2_model(tmp_path / "sm")
    assert graph_ops.findings(sm) == []
    safety.refuse_graph_ops(sm)


def test_a_saver_function_the_signature_also_calls_is_not_the_savers(tmp_path):
    serve = function("__inference_serve_5", node("call", "__inference__traced_restore_10"))
    nodes = [node("StatefulPartitionedCall", "StatefulPartitionedCall", [],
                  calls="__inference_serve_5"), *SAVER]
    sm = saved_model(tmp_path / "sm", meta_graph(nodes, [serve, *SAVER_FUNCTIONS], SAVER_DEF,
                                                 ["StatefulPartitionedCall:0"]))
    assert graph_ops.findings(sm) == [("RestoreV2", "function '__inference__traced_restore_10'")]


def test_tf1_graph_nodes_checkpoint_ops_count_where_a_signature_reads_them(tmp_path):
    """TF1: an old saver nothing runs is left alone; a restore the signature's output is
    computed from reads a path of the graph's choosing on every call."""
    nodes = [node("x", "Placeholder"), node("save/Const", "PlaceholderWithDefault"),
             node("save/RestoreV2", "RestoreV2", ["save/Const"]),
             node("save/restore_all", "NoOp", ["^save/RestoreV2"]),
             node("old/RestoreV2", "RestoreV2"),
             node("evil", "RestoreV2"), node("y", "AddV2", ["x", "evil:0"]),
             node("p", "PrintV2")]
    sm = saved_model(tmp_path / "sm", meta_graph(nodes, saver=("save/Const:0", "save/restore_all"),
                                                 outputs=["y:0"]))
    assert graph_ops.findings(sm) == [("RestoreV2", "node 'evil'"), ("PrintV2", "node 'p'")]


def test_frozen_graphs_and_meta_files_are_scanned_too(tmp_path, safe_mode_on):
    """A frozen GraphDef has no saver: a checkpoint op in it is foreign.  A `.meta`'s own saver
    (restored by import_meta_graph's Saver) is allowed; what its loader fetches is any node."""
    frozen = tmp_path / "frozen_graph.pb"
    frozen.write_bytes(b"".join(fld(1, n) for n in (
        node("x", "Placeholder"), node("evil", "RestoreV2"), node("y", "Identity", ["x"]))))
    assert graph_ops.findings(frozen) == [("RestoreV2", "node 'evil'")]
    with pytest.raises(safety.UnsafeArtifact, match="refused: frozen_graph.pb's graph holds "
                                                    "RestoreV2 in node 'evil'"):
        safety.refuse_graph_ops(frozen)
    meta = tmp_path / "model.ckpt-2.meta"
    meta.write_bytes(meta_graph([node("save/Const", "PlaceholderWithDefault"),
                                 node("save/RestoreV2", "RestoreV2", ["save/Const"]),
                                 node("save/restore_all", "NoOp", ["^save/RestoreV2"]),
                                 node("w", "WriteFile")],
                                saver=("save/Const:0", "save/restore_all")))
    assert graph_ops.findings(meta) == [("WriteFile", "node 'w'")]


def test_every_committed_graph_passes_the_scan():
    files = sorted({p for d in ("fixtures", "tests/data") for pattern in ("*.meta", "*.pb")
                    for p in (REPO / d).rglob(pattern)
                    if p.name not in ("saved_model.pb", "keras_metadata.pb", "fingerprint.pb")})
    assert any(p.suffix == ".meta" for p in files) and len(files) >= 5
    for f in files:
        assert graph_ops.findings(f) == [], f


def test_every_committed_savedmodel_passes_both_scans(safe_mode_on):
    """No false refusal: the fixtures' SavedModels (TF 1.14 to 2.21, TF1 graphs with two
    savers, Keras 2 and 3) hold no op the scan refuses and no Lambda layer."""
    folders = sorted({p.parent for d in ("fixtures", "tests/data")
                      for p in (REPO / d).rglob("saved_model.pb")})
    assert len(folders) >= 10
    for folder in folders:
        assert graph_ops.findings(folder) == [], folder
        safety.refuse_graph_ops(folder)
        safety.refuse_lambda_layers(folder, "safe_mode is off")


def test_a_saved_model_pb_that_is_no_protobuf_is_refused(tmp_path, safe_mode_on):
    sm = tmp_path / "sm"
    sm.mkdir()
    (sm / "saved_model.pb").write_bytes(b"\x12\xff\xff\xff\x0f")  # a field longer than the file
    with pytest.raises(safety.UnsafeArtifact, match="cannot read saved_model.pb to check"):
        safety.refuse_graph_ops(sm)
    safety.refuse_graph_ops(tmp_path)  # no saved_model.pb: the loader's own error says so


# --- --unsafe: the one way past, and the row says so ------------------------------------------

def test_unsafe_lets_both_through_and_says_what(tmp_path, safe_mode_on):
    sm = saved_model(tmp_path / "sm", meta_graph(user_metadata=[LAMBDA_CONFIG]))
    sm2 = tf2_model(tmp_path / "sm2", node("w", "WriteFile"))
    safety.start_request(True)
    assert safety.unsafe_note() == "on: no check found anything to refuse"
    safety.refuse_lambda_layers(sm, "safe_mode is off")
    safety.refuse_graph_ops(sm2)
    safety.refuse_graph_ops(sm2)  # once per reason
    note = safety.unsafe_note()
    assert len(note) == 2 and note[0].startswith("saved_model.pb's object metadata holds")
    assert note[1].startswith("saved_model.pb's graph holds WriteFile")
    safety.start_request(False)
    assert safety.unsafe_note() is None
    with pytest.raises(safety.UnsafeArtifact):
        safety.refuse_graph_ops(sm2)


def test_an_unsafe_error_row_keeps_the_workers_notes():
    from harness.plan import Cell
    from harness.rows import LoadOutcome, Side, build_row

    cell = Cell("2.15", "cpu", "2.15", "cpu", "mlp", "savedmodel", "tf.saved_model.load")
    result = {"status": "load-error", "error_type": "ValueError", "error": "boom",
              "notes": {"unsafe": ["saved_model.pb's graph holds WriteFile (...)"]}}
    row = build_row(cell, {"status": "ok"}, Side("2.15"), Side("2.15"),
                    load=LoadOutcome(result))
    assert row["status"] == "load-error"
    assert row["notes"]["unsafe"] == ["saved_model.pb's graph holds WriteFile (...)"]


# --- HDF5: declared sizes bounded like zip members --------------------------------------------

class _Dataset:
    def __init__(self, shape, itemsize, stored):
        self.shape = shape
        self.dtype = np.dtype(f"f{itemsize}")
        self.id = type("Id", (), {"get_storage_size": lambda _self: stored})()


class _File:
    """What check_h5 asks of an open h5py.File: visititems over its datasets."""

    def __init__(self, **datasets):
        self.datasets = datasets

    def visititems(self, fn):
        for name, d in self.datasets.items():
            fn(name, d)


def test_hdf5_datasets_are_bounded_like_zip_members():
    two_gib = _Dataset((1 << 29,), 4, 0)  # 21 KB on disk, unallocated
    with pytest.raises(safety.UnsafeArtifact) as exc:
        safety.check_h5(_File(**{"model_weights/dense/kernel:0": two_gib}), "bomb.h5", 21000)
    assert str(exc.value) == ("bomb.h5: dataset 'model_weights/dense/kernel:0' would inflate "
                              "0 bytes to 2048 MiB (nothing stored; limit 100x): an HDF5 bomb?")
    compressed = _Dataset((1 << 25,), 4, 1 << 20)  # 128 MiB from 1 MiB: 128x
    with pytest.raises(safety.UnsafeArtifact, match=r"\(128x; limit 100x\): an HDF5 bomb"):
        safety.check_h5(_File(k=compressed), "a.h5", 2 << 20)
    with pytest.raises(safety.UnsafeArtifact, match="declare 3072 MiB in all"):
        safety.check_h5(_File(a=_Dataset((1 << 28,), 4, 1 << 30),
                              b=_Dataset((1 << 28,), 8, 2 << 30)), "big.h5")
    with pytest.raises(safety.UnsafeArtifact, match="declares 4096 stored bytes but the file "
                                                    "has 100: cut short"):
        safety.check_h5(_File(k=_Dataset((1024,), 4, 4096)), "cut.h5", 100)
    # what real weights look like: small, or stored in full
    safety.check_h5(_File(a=_Dataset((10, 10), 4, 0), b=_Dataset((1 << 24,), 4, 1 << 26)),
                    "ok.h5", 1 << 27)


def test_hdf5_bound_on_a_real_file():
    h5py = pytest.importorskip("h5py", reason="h5py is not installed here; the tf test "
                                              "builds the file with a TF environment's h5py")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bomb.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("k", shape=(1 << 29,), dtype="float32", chunks=(1 << 16,))
        with pytest.raises(safety.UnsafeArtifact, match="an HDF5 bomb"):
            safety.check_h5_file(path)


# --- real TF: the payloads, built by TF 2.15 (Keras 2), loaded by a real worker ---------------

BUILD = r'''
import os, sys
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
try:
    from keras.protobuf import saved_metadata_pb2
except ImportError:
    from keras.src.protobuf import saved_metadata_pb2

root = sys.argv[1]

def lambda_savedmodel(folder, marker):
    """A Keras 2 SavedModel whose Lambda writes `marker`, moved to the pre-2.5 layout."""
    fn = eval("lambda x: x * (1.0 + 0.0 * open(%r, 'w').write('ran'))" % marker)
    m = tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(3,)),
                             tf.keras.layers.Lambda(fn, name="doubler")])
    m.save(folder, save_format="tf")
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString(open(folder + "/saved_model.pb", "rb").read())
    meta = saved_metadata_pb2.SavedMetadata()
    meta.ParseFromString(open(folder + "/keras_metadata.pb", "rb").read())
    nodes = sm.meta_graphs[0].object_graph_def.nodes
    for n in meta.nodes:
        nodes[n.node_id].user_object.metadata = n.metadata
    open(folder + "/saved_model.pb", "wb").write(sm.SerializeToString())
    os.remove(folder + "/keras_metadata.pb")

class Writer(tf.Module):
    def __init__(self, marker):
        self.v = tf.Variable(2.0)
        self.marker = marker

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def __call__(self, x):
        tf.io.write_file(self.marker, "ran")
        return {"y": x * self.v}

for kind in ("safe", "unsafe"):
    lambda_savedmodel(f"{root}/lambda-{kind}/keras_savedmodel", f"{root}/lambda-{kind}.marker")
    w = Writer(f"{root}/write-{kind}.marker")
    tf.saved_model.save(w, f"{root}/write-{kind}/savedmodel",
                        signatures={"serving_default": w.__call__})
import json
for kind in ("safe", "unsafe"):  # a frozen graph that writes a file when run
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def frozen(x):
        tf.io.write_file(f"{root}/frozen-{kind}.marker", "ran")
        return tf.identity(x * 2.0, name="y")
    folder = f"{root}/frozen-{kind}"
    os.makedirs(folder, exist_ok=True)
    graph = frozen.get_concrete_function().graph
    open(f"{folder}/frozen_graph.pb", "wb").write(graph.as_graph_def().SerializeToString())
    json.dump({"inputs": ["x:0"], "outputs": [graph.outputs[0].name]},
              open(f"{folder}/frozen_graph.json", "w"))

for p in os.listdir(root):  # saving ran the Lambda once: only a load may write a marker now
    if p.endswith(".marker"):
        os.remove(os.path.join(root, p))
'''

H5_BOMB = r'''
import sys, h5py
with h5py.File(sys.argv[1], "w") as f:
    g = f.create_group("model_weights")
    g.attrs["layer_names"] = [b"dense"]
    d = g.create_group("dense")
    d.attrs["weight_names"] = [b"dense/kernel:0"]
    d.create_dataset("dense/kernel:0", shape=(1 << 29,), dtype="float32", chunks=(1 << 16,))
'''


@pytest.fixture(scope="module")
def keras2(tmp_path_factory, cache_dir, uv_available):
    """The TF 2.15 environment, the payloads it built, and one worker batch over them all."""
    from harness.envs.uv import UvEnvironment
    from harness.specs import EnvSpec

    env = UvEnvironment(EnvSpec.parse("2.15"), cache_dir)
    env.create()
    root = tmp_path_factory.mktemp("payloads")
    for script, arg in ((BUILD, root), (H5_BOMB, root / "h5-bomb" / "model_weights.h5")):
        Path(arg).parent.mkdir(parents=True, exist_ok=True)
        (root / "build.py").write_text(script)
        subprocess.run([str(env.interpreter), str(root / "build.py"), str(arg)], check=True,
                       capture_output=True, timeout=600)
    assert not list(root.glob("*.marker"))
    (root / "keras-bomb").mkdir()
    with zipfile.ZipFile(root / "keras-bomb" / "model.keras", "w") as z:  # the bomb in a .keras
        z.writestr("config.json", "{}")
        z.write(root / "h5-bomb" / "model_weights.h5", "model.weights.h5")
    ref = root / "ref"
    ref.mkdir()
    np.savez(ref / "reference.npz", inputs=np.ones((2, 3), np.float32))
    (ref / "reference.json").write_text(json.dumps({"param_names": []}))
    requests = []

    def load(rid, art, fmt, loader, unsafe=False):
        (root / art / "manifest.json").write_text("{}")
        requests.append({"id": rid, "phase": "load", "format": fmt, "loader": loader,
                         "model": "mlp", "artifact_dir": str(root / art),
                         "reference_dir": str(ref)} | ({"unsafe": True} if unsafe else {}))

    for kind in ("safe", "unsafe"):
        load(f"lambda-{kind}", f"lambda-{kind}", "keras-savedmodel", "keras.models.load_model",
             kind == "unsafe")
        load(f"write-{kind}", f"write-{kind}", "savedmodel", "tf.saved_model.load",
             kind == "unsafe")
    load("write-call", "write-safe", "savedmodel", "tf.saved_model.load[call]")
    load("write-tf1", "write-safe", "savedmodel", "tf.compat.v1.saved_model.loader.load")
    load("h5-reader", "h5-bomb", "weights-h5", "h5py.File")
    load("h5-weights", "h5-bomb", "weights-h5", "model.load_weights")
    load("frozen-safe", "frozen-safe", "frozen-graph", "tf.compat.v1.import_graph_def")
    load("frozen-unsafe", "frozen-unsafe", "frozen-graph", "tf.compat.v1.import_graph_def",
         True)
    load("keras-load", "keras-bomb", "keras", "keras.models.load_model")
    load("keras-reader", "keras-bomb", "keras", "h5py.File")
    requests.append({"id": "h5-inspect", "phase": "inspect", "tensorboard": None,
                     "artifact": str(root / "h5-bomb" / "model_weights.h5")})
    results = {}
    execute.run_batch(env, "load", requests, root / "work", cell_timeout=600,
                      on_result=lambda req, res: results.__setitem__(req["id"], res))
    return root, results


def _refused(result: dict, *words: str) -> str:
    assert result["status"] in ("load-error", "error"), result
    assert result["error_type"].endswith("UnsafeArtifact"), result
    assert "\n" not in result["error"]
    for w in words:
        assert w in result["error"], result["error"]
    return result["error"]


@pytest.mark.tf
def test_tf_lambda_in_object_metadata_is_refused_and_runs_only_unsafe(keras2):
    root, results = keras2
    _refused(results["lambda-safe"], "saved_model.pb's object metadata holds a Lambda layer "
             "('doubler')", "safe_mode is not available in Keras 2.15", "--unsafe")
    assert not (root / "lambda-safe.marker").exists()
    unsafe = results["lambda-unsafe"]  # the payload is live: only --unsafe runs it
    assert unsafe["status"] == "ok", unsafe
    assert (root / "lambda-unsafe.marker").exists()
    assert unsafe["notes"]["safe_mode"] == "off (--unsafe)"
    assert unsafe["notes"]["unsafe"][0].startswith("saved_model.pb's object metadata holds")


@pytest.mark.tf
def test_tf_signature_that_writes_a_file_is_refused_by_every_loader(keras2):
    root, results = keras2
    for rid in ("write-safe", "write-call", "write-tf1"):
        _refused(results[rid], "saved_model.pb's graph holds WriteFile in function", "--unsafe")
    assert not (root / "write-safe.marker").exists()
    unsafe = results["write-unsafe"]
    assert unsafe["status"] == "ok", unsafe
    assert (root / "write-unsafe.marker").read_text() == "ran"
    assert unsafe["notes"]["unsafe"][0].startswith("saved_model.pb's graph holds WriteFile")


@pytest.mark.tf
def test_tf_frozen_graph_that_writes_a_file_is_refused(keras2):
    root, results = keras2
    _refused(results["frozen-safe"], "frozen_graph.pb's graph holds WriteFile in node",
             "--unsafe")
    assert not (root / "frozen-safe.marker").exists()
    assert results["frozen-unsafe"]["status"] == "ok", results["frozen-unsafe"]
    assert (root / "frozen-unsafe.marker").exists()  # the payload is live: only --unsafe runs it


@pytest.mark.tf
def test_tf_oversized_hdf5_dataset_is_refused_before_reading(keras2):
    root, results = keras2
    assert (root / "h5-bomb" / "model_weights.h5").stat().st_size < 64 << 10
    bound = ("model_weights.h5: dataset 'model_weights/dense/dense/kernel:0' would inflate "
             "0 bytes to 2048 MiB (nothing stored; limit 100x): an HDF5 bomb?")
    for rid in ("h5-reader", "h5-weights", "h5-inspect", "keras-load", "keras-reader"):
        expected = bound.replace("model_weights.h5:", "model.keras: model.weights.h5:") \
            if rid.startswith("keras") else bound
        assert _refused(results[rid]) == expected, rid
        assert results[rid]["seconds"] < 30, results[rid]


WRITER_216 = r'''
import sys, tensorflow as tf

class Writer(tf.Module):
    def __init__(self, marker):
        self.v = tf.Variable(2.0)
        self.marker = marker

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def __call__(self, x):
        tf.io.write_file(self.marker, "ran")
        return {"y": x * self.v}

w = Writer(sys.argv[2])
tf.saved_model.save(w, sys.argv[1], signatures={"serving_default": w.__call__})
'''


@pytest.mark.tf
def test_tf_keras3_tfsm_layer_refuses_a_signature_that_writes(tmp_path, cache_dir, uv_available):
    """Keras 3 (TF 2.16): TFSMLayer exists there, and is refused before it calls anything."""
    from harness.envs.uv import UvEnvironment
    from harness.specs import EnvSpec

    env = UvEnvironment(EnvSpec.parse("2.16"), cache_dir)
    env.create()
    art, marker = tmp_path / "art", tmp_path / "written.marker"
    (tmp_path / "make.py").write_text(WRITER_216)
    subprocess.run([str(env.interpreter), str(tmp_path / "make.py"), str(art / "savedmodel"),
                    str(marker)], check=True, capture_output=True, timeout=600)
    (art / "manifest.json").write_text("{}")
    ref = tmp_path / "ref"
    ref.mkdir()
    np.savez(ref / "reference.npz", inputs=np.ones((2, 3), np.float32))
    (ref / "reference.json").write_text(json.dumps({"param_names": []}))
    loaders = ["keras.layers.TFSMLayer[call_endpoint=serving_default]", "keras.models.load_model",
               "tf.saved_model.load"]
    requests = [{"id": f"l{i}", "format": "savedmodel", "loader": loader, "model": "mlp",
                 "artifact_dir": str(art), "reference_dir": str(ref)}
                for i, loader in enumerate(loaders)]
    results = {}
    execute.run_batch(env, "load", requests, tmp_path / "work", cell_timeout=600,
                      on_result=lambda req, res: results.__setitem__(req["id"], res))
    for i in range(len(loaders)):
        _refused(results[f"l{i}"], "saved_model.pb's graph holds WriteFile in function")
    assert not marker.exists()
