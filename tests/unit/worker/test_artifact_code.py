"""Nothing from an artifact runs unless the user says so (issue 27): the Lambda scan reads
saved_model.pb's own object metadata (the pre-2.5 Keras layout), a SavedModel's graph is
scanned for file, print and debugger ops before any loader gets it, `--unsafe` is the one way
past and the row says so; and HDF5 datasets are bounded like zip members.

The hostile saved_model.pb files of the fast tests are written field by field (no TF); the
HDF5 bound's fast test uses a stand-in for an open h5py.File (h5py is not on the host), the
real-TF tests build each payload with TF 2.15 (Keras 2) and load it through a real worker."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.paths import REPO
from support.protos import fld, function, meta_graph, node, saved_model

from harness.worker import graph_ops, safety

# --- protobuf, written by hand ----------------------------------------------------------------


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
    from harness.plan.cells import Cell
    from harness.verdict.rows import LoadOutcome, Side, build_row

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


