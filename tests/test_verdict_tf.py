"""The upgrade verdict on real cells: `harness run --save X --load Y` loads X under X too, and
nothing that fails under X -> X is called a break; a training-only failure is said as such.
The statuses behind the assertions were found by running (and checked by hand with `fit()`)."""

from __future__ import annotations

import json

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


def test_keras_3_to_keras_3_has_no_break_that_its_diagonal_shares(tmp_path, capsys, cache_dir,
                                                                   uv_available):
    out, rows = _run(tmp_path, capsys, cache_dir, "--save", "2.16", "--load", "2.17",
                     "--models", "mlp,mixed,custom_fn,norm", "--formats", "keras,tf-checkpoint")
    assert {(r["save_tf"], r["load_tf"]) for r in rows} == {("2.16", "2.16"), ("2.16", "2.17")}
    head = out.split("\n\n", 1)[0]
    assert "keep working, 0 break" in head, head
    assert "  breaks:" not in head
    # what fails under 2.16 -> 2.16 as well is listed with its kind and models
    already = [ln for ln in head.splitlines() if ln.startswith("  already fails under 2.16")]
    assert already and any("custom_fn" in ln for ln in already), head
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
    assert " T " in f"{h5} " or h5.rstrip().endswith("T") or " T [" in h5
