"""The upgrade verdict on real cells: `harness run --save X --load Y` loads X under X too, and
nothing that fails under X -> X is called a break; a training-only failure is said as such.
The statuses behind the assertions were found by running (and checked by hand with `fit()`)."""

from __future__ import annotations

import json
import re

import pytest

from harness.cli import main

pytestmark = [pytest.mark.tf, pytest.mark.crossversion]


def _run(tmp_path, capsys, cache_dir, *args) -> tuple[str, list[dict]]:
    results = tmp_path / "results"
    rc = main(["run", *args, "--results-dir", str(results), "--cache-dir", str(cache_dir),
               "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    (run,) = results.iterdir()
    rows = [json.loads(line) for line in (run / "cells.jsonl").read_text().splitlines()]
    return out, rows


def run_of(tmp_path):
    (run,) = (tmp_path / "results").iterdir()
    return run


def test_keras_3_to_keras_3_has_no_break_that_its_diagonal_shares(tmp_path, capsys, cache_dir,
                                                                   uv_available):
    out, rows = _run(tmp_path, capsys, cache_dir, "--save", "2.16", "--load", "2.17",
                     "--models", "mlp,mixed,custom_fn,norm", "--formats", "keras,tf-checkpoint")
    assert {(r["save_tf"], r["load_tf"]) for r in rows} == {("2.16", "2.16"), ("2.16", "2.17")}
    head = out.split("\n\n", 1)[0]
    assert "keep working, 0 break" in head, head
    assert "  breaks:" not in head
    # what fails under 2.16 -> 2.16 as well is listed with its kind and models
    assert "  already fails under 2.16 -> 2.16 (not the upgrade): `keras.models.load_model`" \
        in head, head
    already = head.split("already fails under 2.16", 1)[1]
    assert "raises for custom_fn" in already
    assert "predicts the same, cannot resume training for mixed" in already
    mixed = [r for r in rows if r["model"] == "mixed" and r["format"] == "keras"
             and r["loader"] == "keras.models.load_model"]
    assert {r["status"] for r in mixed} == {"mismatch"}
    assert all(r["differs"] == ["training"] for r in mixed)  # LossScaleOptimizer state lost


def test_the_tutorial_sequential_h5_predicts_the_same_and_cannot_resume(tmp_path, capsys,
                                                                       cache_dir, uv_available):
    out, rows = _run(tmp_path, capsys, cache_dir, "--save", "2.12", "--load", "2.16",
                     "--models", "mlp,seq", "--formats", "h5")
    cell = {(r["model"], r["load_tf"], r["loader"]): r for r in rows}
    seq = cell[("seq", "2.16", "keras.models.load_model")]
    assert seq["status"] == "mismatch" and seq["differs"] == ["training"]
    assert seq["params_equal"] == seq["params_total"] and seq["resume_ok"] is False
    assert cell[("mlp", "2.16", "keras.models.load_model")]["status"] == "load-error"
    assert cell[("seq", "2.12", "keras.models.load_model")]["status"] == "pass"
    head = out.split("\n\n", 1)[0]
    breaks = next(ln for ln in head.splitlines() if ln.startswith("  breaks: "
                                                                   "`keras.models.load_model`"))
    assert "raises for mlp" in breaks
    assert "predicts the same, cannot resume training for seq" in breaks
    assert "silently wrong" not in breaks
    table = out.split("\n\n", 1)[1]
    h5 = next(ln for ln in table.splitlines() if ln.startswith("h5 "))
    assert re.search(r"✗ \[\d\]\s+T \[\d\]$", h5.rstrip()), h5  # mlp raises; seq: T
    assert main(["advise", "--from", "2.12", "--to", "2.16", str(run_of(tmp_path))]) == 0
    advice = capsys.readouterr().out
    assert "predicts the same, cannot resume training for seq" in advice
    assert "raises for mlp" in advice and "silently wrong" not in advice

    # `harness try` on that very .h5, as a user would with their own file: the training step
    # under the producer's TF (2.12) and under 2.16
    (art,) = run_of(tmp_path).glob("artifacts/2.12-*/seq/h5/model.h5")
    rc = main(["try", str(art), "--load", "2.12,2.16", "--cache-dir", str(cache_dir),
               "--results-dir", str(tmp_path / "try")])
    said = capsys.readouterr().out
    assert rc == 1, said
    assert "training: one optimizer step (Adam" in said
    assert "`keras.models.load_model` loads it with the same parameters and predictions; " \
           "training resumes" in said.split("TF 2.12 (", 1)[1]
    assert "`keras.models.load_model` loads it and predicts the same, but training cannot " \
           "resume" in said.split("TF 2.16 (", 1)[1]
    assert "load with `keras.models.load_model(path, compile=False)` and compile anew" in said
