"""harness.results.store (the run folder), the terminal table's --detail view and uv's error
line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness import __version__
from harness.envs.uv import uv_error_line
from harness.reports.terminal import terminal_table
from harness.results.store import RunDir, RunError, read_rows


def test_create_refuses_an_existing_run(tmp_path):
    run = RunDir.create(tmp_path / "results", "r1")
    assert run.path == tmp_path / "results" / "r1" and run.path.is_dir()
    assert run.rows() == []
    with pytest.raises(RunError, match="exists: finish it with `harness run --resume"):
        RunDir.create(tmp_path / "results", "r1")


CELL = {"save_tf": "2.12", "save_device": "cpu", "load_tf": "2.16", "load_device": "cpu",
        "format": "h5", "loader": "h5py.File"}


def test_append_writes_one_flushed_line_per_row(tmp_path):
    run = RunDir.create(tmp_path, "r")
    rows = [CELL | {"model": "mlp", "status": "load-error", "error": "two\nlines"},
            CELL | {"model": "cnn", "status": "pass", "max_ulp": np.float32(3)}]
    for i, row in enumerate(rows, 1):
        run.append(row)
        assert len(run.cells_file.read_text().splitlines()) == i  # on disk right away
    assert run.cells_file.read_text().endswith("\n")
    assert run.rows() == [rows[0], rows[1] | {"max_ulp": 3.0}]


def test_truncated_last_line_is_skipped(tmp_path):
    run = RunDir.create(tmp_path, "r")
    run.append(CELL | {"model": "mlp", "status": "pass"})
    run.append(CELL | {"model": "cnn", "status": "mismatch"})
    with open(run.cells_file, "a") as f:
        f.write('{"model": "rnn", "sta')  # the host died mid-write
    assert [r["model"] for r in read_rows(run.cells_file)] == ["mlp", "cnn"]
    assert read_rows(tmp_path / "nowhere.jsonl") == []


def test_write_run_info(tmp_path):
    run = RunDir.create(tmp_path, "r")
    run.write_run_info({"run_id": "r", "matrix": {"cells": 2}})
    info = json.loads((run.path / "run.json").read_text())
    assert info["run_id"] == "r" and info["matrix"] == {"cells": 2}
    assert info["harness_version"] == __version__ and {"python", "cpus"} <= set(info["host"])
    assert not (run.path / "run.json.tmp").exists()


def _env(tf: str, keras: str | None) -> dict:
    return {"backend": "uv", "resolved": {"tf": tf, "keras": keras, "numpy": "1.24.3",
                                          "h5py": "3.9.0", "protobuf": "4.23.4",
                                          "python": "3.11.7"}}


def test_terminal_table_detail(tmp_path):
    run = RunDir.create(tmp_path, "r")
    run.write_run_info({"environments": {"2.12": _env("2.12.1", "2.12.0"),
                                          "2.16": _env("2.16.2", "3.3.3")}})
    base = {"save_tf": "2.12", "save_device": "cpu", "load_tf": "2.16", "load_device": "cpu",
            "model": "mlp"}
    run.append(base | {"format": "keras", "loader": "keras.models.load_model",
                       "status": "pass", "max_abs_diff": 0.0})
    run.append(base | {"format": "h5", "loader": "keras.models.load_model",
                       "status": "mismatch", "max_abs_diff": 0.001})
    run.append(base | {"format": "savedmodel", "loader": "tf.saved_model.load",
                       "status": "load-error", "error": "boom"})
    run.append(base | {"save_tf": "2.16", "format": "keras", "loader": "keras.models.load_model",
                       "status": "pass", "max_abs_diff": 2e-7})
    text = terminal_table(run.path, detail=True)
    lines = text.splitlines()
    assert any("2.12" in ln and "tf 2.12.1, keras 2.12.0" in ln and "[uv]" in ln for ln in lines)
    header = next(ln for ln in lines if ln.startswith("model "))
    assert "2.12 -> 2.16" in header and "2.16 -> 2.16" in header
    row = next(ln for ln in lines if "mlp" in ln and "h5" in ln)
    assert "keras.models.load_model" in row and "mismatch 1e-03" in row
    assert any("savedmodel" in ln and "tf.saved_model.load" in ln and "load-error" in ln
               for ln in lines)
    assert any("keras " in ln and "pass 0 " in ln and "pass 2e-07" in ln for ln in lines)
    assert "4 cells: 2 pass, 1 mismatch, 1 load-error" in text


def test_errors_become_numbered_footnotes_grouped_across_artifact_paths(tmp_path):
    run = RunDir.create(tmp_path, "r")
    run.write_run_info({"environments": {"2.12": _env("2.12.1", "2.12.0")}})
    base = {"save_tf": "2.12", "load_tf": "2.12", "format": "keras",
            "loader": "keras.models.load_model", "status": "load-error", "error_type": "ValueError"}
    for model in ("mlp", "cnn"):  # the same error, each naming its own artifact
        run.append(base | {"model": model, "error": f"File not found: filepath=/r/artifacts/"
                                                     f"2.12-cpu-abc/{model}/keras/model.keras.\nx"})
    run.append(base | {"model": "rnn", "error": "Unrecognized keyword arguments: time_major"})
    text = terminal_table(run.path, detail=True)
    # one summary for every report (run_view.error_summary): the first and the last line
    assert "[1] load-error ValueError: File not found: filepath=.../model.keras. ... x" in text
    assert "[2] load-error ValueError: Unrecognized keyword arguments: time_major" in text
    assert "[3]" not in text
    assert sum("load-error [1]" in ln for ln in text.splitlines()) == 2


def test_terminal_table_env_without_keras_dist(tmp_path):
    # TF 2.5 (in specs.TF_PYTHONS) ships Keras as keras-nightly: query.py reports keras None.
    run = RunDir.create(tmp_path, "r")
    run.write_run_info({"environments": {"2.5": _env("2.5.3", None)}})
    run.append({"save_tf": "2.5", "load_tf": "2.5", "model": "mlp", "format": "h5",
                "loader": "keras.models.load_model", "status": "pass", "max_abs_diff": 0.0})
    assert "tf 2.5.3, keras None" in terminal_table(run.path, detail=True)


def test_terminal_table_without_cells(tmp_path):
    run = RunDir.create(tmp_path, "r")
    run.write_run_info({})
    assert terminal_table(run.path) == "(no cells)"


UV_GRAPHICAL = """\
  × No solution found when resolving dependencies:
  ╰─▶ Because there is no version of tensorflow-cpu==2.16.9 and you require \
tensorflow-cpu==2.16.9, we can conclude that your requirements are unsatisfiable.
"""
# What uv 0.13 prints when stderr is not a terminal (as the harness runs it).
UV_PLAIN = """\
Using Python 3.11.7 environment at: /tmp/env
error: No solution found when resolving dependencies
  cause: Because there is no version of tensorflow-cpu==2.16.9 and you require \
tensorflow-cpu==2.16.9, we can conclude that your requirements are unsatisfiable.
"""


@pytest.mark.parametrize("stderr", [UV_GRAPHICAL, UV_PLAIN])
def test_uv_error_line_no_solution(stderr):
    assert uv_error_line(stderr) == (
        "Because there is no version of tensorflow-cpu==2.16.9 and you require "
        "tensorflow-cpu==2.16.9, we can conclude that your requirements are unsatisfiable.")


def test_uv_error_line_fallbacks():
    stderr = "Resolved 3 packages\nerror: Failed to fetch: `https://pypi.org/simple/x/`\n"
    assert uv_error_line(stderr) == "error: Failed to fetch: `https://pypi.org/simple/x/`"
    assert uv_error_line("just noise\n") == "just noise"
    assert uv_error_line("\n  \n") == "uv failed without a message"
