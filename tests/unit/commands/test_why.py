"""`harness why RUN`: a cell's whole story, layer by layer (issue 23), on a hand-made run."""

from __future__ import annotations

from support.runs import make_run, row

from harness.cli import main


def mismatch_row() -> dict:
    return row("2.15", "2.16", "mixed", "weights-h5", "model.load_weights", "mismatch",
               differs=["predictions"], max_abs_diff=1.2e-3, rtol=1e-3, atol=1e-3,
               error="predictions: output 0 beyond rtol=0.001, atol=0.001",
               diverges_at={"layer": "logits", "class": "Dense", "dtype_policy": "mixed_float16",
                            "max_abs_diff": 1.2e-3},
               layer_diffs=[{"layer": "dense", "max_abs_diff": 2.0e-3},
                            {"layer": "logits", "max_abs_diff": 1.2e-3}],
               tolerance_to_pass={"atol": 1.1e-3, "or_rtol": 2.5e-3})


def test_why_tells_where_the_outputs_start_to_differ_and_what_would_pass(tmp_path, capsys):
    run = make_run(tmp_path, rows=[mismatch_row(),
                                   row("2.15", "2.16", "mixed", "h5", "keras.models.load_model",
                                       "pass")])
    assert main(["why", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "mixed weights-h5 model.load_weights 2.15 -> 2.16: mismatch"
    assert "outputs diverge from layer `logits` (Dense, mixed_float16) on, by 1.20e-03" in out
    assert "    dense                    2.00e-03\n    logits                   1.20e-03" in out
    assert "passes at atol 1.10e-03 (or rtol 2.50e-03)" in out
    assert "keras.models.load_model" not in out  # a pass only with --all
    assert main(["why", str(run), "--all", "--formats", "h5"]) == 0
    assert capsys.readouterr().out.startswith("mixed h5 keras.models.load_model 2.15 -> 2.16: pass")


def test_why_with_nothing_to_explain_says_so_in_one_line(tmp_path, capsys):
    run = make_run(tmp_path, rows=[row("2.15", "2.16", "mixed", "h5", "keras.models.load_model",
                                       "pass")])
    assert main(["why", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no cell matches that does not pass" in err
    assert main(["why", str(run), "--models", "nosuch"]) == 2
    assert "nosuch not in this run" in capsys.readouterr().err
