"""harness.findings.expectations (the file the pytest plugin and `harness check` read), `harness
check`
and `harness diff` on hand-made runs (no TF)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.paths import REPO
from support.runs import make_run, row, sample_rows

from harness.cli import main
from harness.errors import UserError
from harness.findings.expectations import (
    CHANGED,
    EXPECTED,
    FIXED,
    NEW,
    OK,
    check_cells,
    draft_entries,
    load,
    parse,
    to_toml,
)

# What the sample run (test_reports_sample.py) needs to be as expected.
SAMPLE_EXPECTATIONS = """
[[expect]]
format = "savedmodel"
loader = "keras.models.load_model"
status = "load-error"
reason = "tf.saved_model.save writes no Keras metadata; Keras 3 cannot load a SavedModel at all"

[[expect]]
save_tf = "2.12"
load_tf = "2.16"
format = "tf-checkpoint"
loader = "tf.train.Checkpoint.restore"
status = "mismatch"
reason = "object graphs differ between Keras 2 and 3: nothing is restored, silently"

[[expect]]
save_tf = "2.16"
load_tf = "2.12"
format = "tf-checkpoint"
loader = "tf.train.Checkpoint.restore"
status = "mismatch"
reason = "the same, the other way"

[[expect]]
save_tf = "2.16"
load_tf = "2.12"
format = "h5"
status = "load-error"
reason = "Keras 2 does not know Keras 3's InputLayer(batch_shape=...)"

[[expect]]
save_tf = ["2.12", "2.1[3-5]"]
load_tf = ["2.1[6-9]", "2.2?"]
model = "cnn"
format = "h5"
status = "load-error"
reason = "made up for the test: the cnn fails from Keras 2 to Keras 3"
"""


def write(tmp_path: Path, text: str, name: str = "expectations.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def one_error_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1, err
    return err.strip()


# --- the file and match(), the interface the pytest plugin uses ---------------------------------

def test_match_first_entry_wins_and_globs_match_any_listed():
    exps = parse({"expect": [
        {"model": "mlp", "format": "h5", "status": "pass", "reason": "the exception"},
        {"load_tf": ["2.1[6-9]", "2.2?"], "format": "h5", "status": "load-error",
         "reason": "Keras 3 reads no Keras 2 h5 config", "link": "https://example.org/1"},
    ]})
    cell = {"save_tf": "2.12", "load_tf": "2.16", "model": "cnn", "format": "h5",
            "loader": "keras.models.load_model", "save_device": "cpu", "load_device": "cpu"}
    exp = exps.match(cell)
    assert (exp.status, exp.reason, exp.link, exp.index) == (
        "load-error", "Keras 3 reads no Keras 2 h5 config", "https://example.org/1", 2)
    assert exp.pattern == {"load_tf": ("2.1[6-9]", "2.2?"), "format": ("h5",)}
    assert exps.match(dict(cell, load_tf="2.21")).index == 2
    assert exps.match(dict(cell, model="mlp")).status == "pass"
    assert exps.match(dict(cell, load_tf="2.15")) is None
    # "2.16+tf_keras" is another Keras: a glob without "*" does not reach it
    assert exps.match(dict(cell, load_tf="2.16+tf_keras")) is None


def test_loader_names_with_brackets_match_literally_and_as_globs():
    exps = parse({"expect": [
        {"loader": "keras.models.load_model[compile=False]", "status": "pass", "reason": "a"},
        {"loader": "keras.models.load_model*", "status": "load-error", "reason": "b"}]})
    assert exps.match({"loader": "keras.models.load_model[compile=False]"}).reason == "a"
    assert exps.match({"loader": "keras.models.load_model[custom_objects]"}).reason == "b"
    assert exps.match({"loader": "keras.models.load_model"}).reason == "b"
    assert exps.match({"loader": "model.load_weights"}) is None


def test_device_patterns_and_cells_without_devices():
    exps = parse({"expect": [{"load_device": "gpu", "status": "unsupported", "reason": "no gpu"},
                             {"save_device": "cpu", "model": "rnn", "status": "crash",
                              "reason": "r"}]})
    assert exps.match({"load_device": "gpu"}).index == 1
    assert exps.match({"model": "rnn"}).index == 2  # a plan without devices ran on cpu
    assert exps.match({"model": "rnn", "save_device": "gpu"}) is None


@pytest.mark.parametrize("entry, message", [
    ({"modle": "mlp", "status": "pass", "reason": "r"}, "unknown key 'modle'"),
    ({"status": "broken", "reason": "r"}, "status must be one of"),
    ({"status": "load-error"}, "a reason is required"),
    ({"status": "load-error", "reason": "  "}, "a reason is required"),
    ({"status": "load-error", "reason": "r", "model": 3}, "model must be a glob"),
    ({"status": "load-error", "reason": "r", "model": []}, "model must be a glob"),
    ({"status": "load-error", "reason": "r", "link": 5}, "link must be a string"),
])
def test_bad_entries_are_refused_with_where(entry, message):
    with pytest.raises(UserError, match=re.escape(message)) as info:
        parse({"expect": [{"status": "pass", "reason": "fine"}, entry]}, "x.toml")
    assert str(info.value).startswith("x.toml: entry #2")


def test_load_reads_toml_and_refuses_bad_toml(tmp_path):
    exps = load(write(tmp_path, SAMPLE_EXPECTATIONS))
    assert len(exps.entries) == 5 and exps.path == tmp_path / "expectations.toml"
    with pytest.raises(UserError, match="is not valid TOML"):
        load(write(tmp_path, "[[expect]\nstatus = ", "bad.toml"))
    with pytest.raises(UserError, match="no expectations file"):
        load(tmp_path / "nowhere.toml")
    with pytest.raises(UserError, match="unknown top-level key 'expected'"):
        load(write(tmp_path, "[[expected]]\nstatus='pass'\nreason='r'\n", "typo.toml"))


def test_the_projects_expectations_file_is_valid():
    exps = load(REPO / "matrix" / "expectations.toml")
    assert len(exps.entries) >= 10
    for e in exps.entries:
        assert len(e.reason) > 20, e  # written from the real error, not a placeholder
        assert e.link is None or e.link.startswith("https://"), e


# --- judging cells ------------------------------------------------------------------------------

def test_judge_kinds():
    exps = parse({"expect": [{"format": "h5", "status": "load-error", "reason": "r"}]})
    h5 = {"format": "h5"}
    kinds = [v.kind for v in check_cells([
        {"format": "keras", "status": "pass"}, {"format": "keras", "status": "unsupported"},
        {"format": "keras", "status": "crash"}, h5 | {"status": "load-error"},
        h5 | {"status": "pass"}, h5 | {"status": "mismatch"}, h5 | {"status": "unsupported"}],
        exps)]
    assert kinds == [OK, OK, NEW, EXPECTED, FIXED, CHANGED, OK]


def test_drafted_entries_fold_models_and_versions_and_parse_back():
    cells = [row(s, ld, m, "h5", "keras.models.load_model", "load-error",
                 error_type="ValueError", error="Unrecognized keyword arguments passed to LSTM")
             for s in ("2.12", "2.15") for ld in ("2.16", "2.21") for m in ("mlp", "rnn")]
    entries = draft_entries(cells)
    assert len(entries) == 1
    e = entries[0]
    assert (e["save_tf"], e["load_tf"], e["model"]) == (["2.12", "2.15"], ["2.16", "2.21"],
                                                          ["mlp", "rnn"])
    assert "Unrecognized keyword arguments passed to LSTM" in e["reason"]
    import tomllib

    exps = parse(tomllib.loads(to_toml(entries)))
    assert all(exps.match(c) for c in cells)
    assert exps.match(dict(cells[0], model="cnn")) is None


# --- harness check ------------------------------------------------------------------------------

def test_check_is_green_when_every_cell_is_as_expected(tmp_path, capsys):
    run = make_run(tmp_path)
    assert main(["check", str(run), "--expectations",
                 str(write(tmp_path, SAMPLE_EXPECTATIONS))]) == 0
    out = capsys.readouterr().out
    assert "0 new failures, 0 expected failures now pass, 0 changed status" in out
    assert "NEW FAILURE" not in out


def test_check_is_red_on_a_new_failure_and_its_stanza_makes_it_green(tmp_path, capsys):
    rows = sample_rows()
    flipped = next(r for r in rows if r["format"] == "savedmodel" and r["status"] == "pass"
                   and r["save_tf"] == "2.12" and r["load_tf"] == "2.16")
    flipped.update(status="load-error", error_type="OSError", error="SavedModel file does not "
                   "exist at: /tmp/x/artifacts/k/mlp/savedmodel/savedmodel")
    run = make_run(tmp_path, rows=rows)
    exp_file = write(tmp_path, SAMPLE_EXPECTATIONS)
    assert main(["check", str(run), "--expectations", str(exp_file)]) == 1
    out = capsys.readouterr().out
    news = [ln for ln in out.splitlines() if ln.startswith("NEW FAILURE")]
    assert len(news) == 1
    assert f"2.12 -> 2.16 {flipped['model']} / savedmodel / {flipped['loader']}" in news[0]
    assert "load-error OSError: SavedModel file does not exist at: .../savedmodel" in news[0]
    stanza = out.split("[[expect]]", 1)[1]
    exp_file.write_text(SAMPLE_EXPECTATIONS + "\n[[expect]]" + stanza)
    assert main(["check", str(run), "--expectations", str(exp_file)]) == 0


def test_check_is_red_when_an_expected_failure_passes(tmp_path, capsys):
    rows = sample_rows()
    fixed = next(r for r in rows if r["loader"] == "tf.train.Checkpoint.restore"
                 and r["status"] == "mismatch")
    fixed.update(status="pass", error=None)
    run = make_run(tmp_path, rows=rows)
    assert main(["check", str(run), "--expectations",
                 str(write(tmp_path, SAMPLE_EXPECTATIONS))]) == 1
    out = capsys.readouterr().out
    passes = [ln for ln in out.splitlines() if ln.startswith("NOW PASSES")]
    assert len(passes) == 1 and "expected mismatch by entry #" in passes[0]
    assert "narrow or remove entries #" in out


def test_check_on_bad_input_fails_in_one_line(tmp_path, capsys):
    run = make_run(tmp_path)
    assert main(["check", str(run), "--expectations", str(tmp_path / "none.toml")]) == 2
    assert "no expectations file" in one_error_line(capsys)
    bad = write(tmp_path, "[[expect]]\nstatus = 'pass'\nreason = \n", "bad.toml")
    assert main(["check", str(run), "--expectations", str(bad)]) == 2
    assert "is not valid TOML" in one_error_line(capsys)
    assert main(["check", str(tmp_path), "--expectations",
                 str(write(tmp_path, SAMPLE_EXPECTATIONS))]) == 2
    assert "is not a run folder" in one_error_line(capsys)


# --- harness diff -------------------------------------------------------------------------------

def test_diff_lists_status_changes(tmp_path, capsys):
    a = make_run(tmp_path, "a")
    assert main(["diff", str(a), str(make_run(tmp_path, "same"))]) == 0
    assert capsys.readouterr().out.startswith("0 of 48 common cells changed status")
    rows = sample_rows()
    changed = rows[5]
    before = changed["status"]
    changed.update(status="crash", error_type="WorkerDied", error="signal 6")
    b = make_run(tmp_path, "b", rows=rows[:-1])
    assert main(["diff", str(a), str(b)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (f"{changed['save_tf']} -> {changed['load_tf']} {changed['model']} / "
                        f"{changed['format']} / {changed['loader']}: {before} -> crash  "
                        "(crash WorkerDied: signal 6)")
    assert lines[1] == ("1 of 47 common cells changed status (a -> b); 1 cells only in a, "
                        "0 only in b")
    assert main(["diff", str(a), str(tmp_path / "nope")]) == 2


def test_check_reads_real_rows_fields(tmp_path):
    """cells.jsonl rows carry extra fields (log, envs): check must not trip on them."""
    rows = [dict(r, log="/x/worker.log", save_env={"key": "k"}) for r in sample_rows()]
    run = make_run(tmp_path, rows=rows)
    assert json.loads((run / "cells.jsonl").read_text().splitlines()[0])["log"] == "/x/worker.log"
    assert main(["check", str(run), "--expectations",
                 str(write(tmp_path, SAMPLE_EXPECTATIONS))]) == 0
