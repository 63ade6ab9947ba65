"""`harness inspect`: format detection from the bytes (no TF), and the real thing on artifacts
nobody on this project wrote (../shared/external-fixtures: TF 1.14 and TF 2.14 SavedModels and a
TFLite file computing y = 0.5x + 2), read inside real TF environments."""

from __future__ import annotations

import zipfile

from support.inspect_helpers import TF1_SM, TF2_SM, TFLITE, needs_fixtures

from harness.worker.detect import detect


@needs_fixtures
def test_detects_the_external_fixtures_through_their_serving_layout():
    assert detect(TF1_SM) == ("savedmodel", TF1_SM / "00000123")
    assert detect(TF2_SM / "00000123") == ("savedmodel", TF2_SM / "00000123")
    assert detect(TFLITE) == ("tflite", TFLITE / "00000123" / "model.tflite")


def test_detects_from_bytes_not_extensions(tmp_path):
    keras_zip = tmp_path / "model.h5"  # a .keras zip under a lying name
    with zipfile.ZipFile(keras_zip, "w") as z:
        z.writestr("config.json", "{}")
    assert detect(keras_zip)[0] == "keras"
    other_zip = tmp_path / "model.keras"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("something.txt", "")
    assert detect(other_zip)[0] == "unknown"
    (tmp_path / "m.onnx.bin").write_bytes(b"\x08\x08\x12\x07tf2onnx")
    assert detect(tmp_path / "m.onnx.bin")[0] == "onnx"
    (tmp_path / "graph.model").write_bytes(b"\x0a\x3c\x0a\x01x\x12\x0bPlaceholder")
    assert detect(tmp_path / "graph.model")[0] == "frozen-graph"
    (tmp_path / "x.bin").write_bytes(b"\x1c\x00\x00\x00TFL3\x00\x00")
    assert detect(tmp_path / "x.bin")[0] == "tflite"
    (tmp_path / "notes.txt").write_text("hello")
    assert detect(tmp_path / "notes.txt")[0] == "unknown"


def test_detects_checkpoints_by_their_files(tmp_path):
    v1 = tmp_path / "v1"
    v1.mkdir()
    for name in ("model.ckpt-2.index", "model.ckpt-2.meta", "model.ckpt-2.data-00000-of-00001"):
        (v1 / name).write_bytes(b"")
    (v1 / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-2"\n')
    assert detect(v1) == ("tf1-checkpoint", v1 / "model.ckpt-2")
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "ckpt-3.index").write_bytes(b"")
    assert detect(v2) == ("tf-checkpoint", v2 / "ckpt-3")
    assert detect(v2 / "ckpt-3") == ("tf-checkpoint", v2 / "ckpt-3")


