"""Artifacts are untrusted input (issue 11): Lambda layers refused where Keras has no safe mode,
zip bombs and FIFOs refused before any reader gets them, broken files never inspected as fine,
and a worker bounded in memory that stops when its host is gone."""

from __future__ import annotations

import os
import time
import zipfile

import pytest

from harness.cli import main as cli_main
from harness.worker import safety

BOMB_MB = 300


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory):
    """A ~300 KB .keras that would inflate to 300 MB."""
    path = tmp_path_factory.mktemp("bomb") / "model.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", "{}")
        with z.open("model.weights.h5", "w", force_zip64=True) as f:
            block = bytes(1 << 20)
            for _ in range(BOMB_MB):
                f.write(block)
    assert path.stat().st_size < 2 << 20
    return path


def inspect_error(capsys, *argv) -> str:
    rc = cli_main(["inspect", *map(str, argv)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("harness: error: ") and err.count("\n") == 1, (rc, err)
    return err


def test_zip_bomb_is_refused_unread(zip_bomb, capsys):
    t0 = time.monotonic()
    with pytest.raises(safety.UnsafeArtifact, match="would inflate .* to 300 MiB"):
        safety.check_zip(zip_bomb)
    with pytest.raises(safety.UnsafeArtifact, match="a zip bomb"):
        safety.read_member(zip_bomb, "model.weights.h5")
    err = inspect_error(capsys, zip_bomb, "--cache-dir", "/nonexistent-cache")
    assert f"{zip_bomb}: refused: model.keras: member 'model.weights.h5'" in err
    assert time.monotonic() - t0 < 5  # and no environment was touched


def test_read_member_limits_what_it_reads(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", "x" * 5000)
    assert safety.read_member(path, "missing.json") is None
    assert len(safety.read_member(path, "config.json")) == 5000
    with pytest.raises(safety.UnsafeArtifact, match="is over"):
        safety.read_member(path, "config.json", limit=100)


def test_fifo_is_refused_without_hanging(tmp_path, capsys):
    fifo = tmp_path / "model.h5"
    os.mkfifo(fifo)
    assert f"{fifo} is a FIFO, not a model file" in inspect_error(capsys, fifo)
    folder = tmp_path / "sm"
    folder.mkdir()
    os.mkfifo(folder / "saved_model.pb")
    assert "saved_model.pb is a FIFO" in inspect_error(capsys, folder)


@pytest.mark.parametrize("name, content, msg", [
    ("model.h5", b"", "model.h5: empty file (0 bytes)"),
    ("model.h5", None, "model.h5 is a zip archive (a .keras file?), not HDF5"),
    ("model.keras", b'{"a": 1}', "model.keras is JSON text, not a zip archive"),
    ("model.tflite", b"\x89HDF\r\n\x1a\n....", "model.tflite is an HDF5 file (an .h5 file?), "
                                                "not a TFLite flatbuffer"),
])
def test_mislabelled_and_empty_files(tmp_path, capsys, name, content, msg):
    path = tmp_path / name
    if content is None:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("config.json", "{}")
    else:
        path.write_bytes(content)
    assert msg in inspect_error(capsys, path)


def test_lambda_layers_are_found_anywhere_in_a_config():
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "config": {"name": "d"}},
        {"class_name": "TimeDistributed", "config": {"layer": {
            "class_name": "Lambda", "config": {"name": "inner"}}}},
        {"class_name": "Lambda", "config": {"name": "outer"}}]}}
    assert safety.lambda_layers(config) == ["inner", "outer"]
    assert safety.lambda_layers({"class_name": "Dense"}) == []
