"""Where the `mixed` model's predictions start to differ, 2.15 -> 2.16, on real cells.

What runs here was found by running it first: under 2.16 (Keras 3) `keras.models.load_model`
cannot load 2.15's `.keras` file of this model at all (a load-error, no prediction to explain);
`model.load_weights` of its weights-h5 file gives bit-identical weights and float16 outputs
that move by 1.2e-3 against float16's 1e-3.  Both Dense layers already differ (Keras 3's float16
matmul), the first one (`dense`, 2e-3 on values about 2) within its tolerance, `logits` beyond
it.  The SavedModel's loaders give back no Keras layers: those rows say so.  A tf-checkpoint
restored into the zoo model under Keras 3 leaves its weights unrestored (0 of 4 bit-identical):
its outputs diverge from the first layer on."""

from __future__ import annotations

import json

import pytest

from harness.cli import main

pytestmark = [pytest.mark.tf, pytest.mark.crossversion]


def test_mixed_2_15_to_2_16_diverges_at_a_float16_layer(tmp_path, capsys, cache_dir):
    results = tmp_path / "results"
    rc = main(["run", "--save", "2.15", "--load", "2.16", "--models", "mixed",
               "--formats", "keras,weights-h5,savedmodel,tf-checkpoint",
               "--results-dir", str(results), "--cache-dir", str(cache_dir), "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    (run,) = results.iterdir()
    rows = [json.loads(line) for line in (run / "cells.jsonl").read_text().splitlines()]
    upgrade = [r for r in rows if (r["save_tf"], r["load_tf"]) == ("2.15", "2.16")]
    predictions = [r for r in upgrade if r["status"] == "mismatch"
                   and "predictions" in (r["differs"] or [])]
    assert predictions, out

    keras_side = [r for r in predictions if r["format"] in ("keras", "weights-h5")]
    assert [(r["format"], r["loader"]) for r in keras_side] == \
        [("weights-h5", "model.load_weights")]
    restored = [r for r in predictions if r["format"] == "tf-checkpoint"]
    assert len(restored) == 4, [r["loader"] for r in restored]
    for r in restored:
        assert "parameters" in r["differs"]
        assert (r["diverges_at"]["layer"], r["diverges_at"]["index"]) == ("dense", 0)
        assert r["diverges_at"]["dtype"] == "float16"
    assert all(r["status"] == "load-error" for r in upgrade
               if r["format"] == "keras" and r["loader"].startswith("keras.models.load_model"))
    for r in keras_side:
        at = r["diverges_at"]
        assert (at["dtype"], at["dtype_policy"], at["class"]) == \
            ("float16", "mixed_float16", "Dense"), at
        assert at["layer"] == "logits"
        assert [d["layer"] for d in r["layer_diffs"]] == ["dense", "logits"]
        assert r["layer_diffs"][-1]["max_abs_diff"] == r["max_abs_diff"]
        need = r["tolerance_to_pass"]
        # it failed at (rtol, atol): the atol that passes at that rtol is above atol, and
        # never above the largest difference (rounded up to two digits)
        assert need["rtol"] == r["rtol"] and r["atol"] < need["atol"] <= r["max_abs_diff"] * 1.1

    for r in predictions:
        if r["format"] == "savedmodel":
            assert r["diverges_at"] is None
            assert r["notes"]["layers_not_compared"].endswith("gives back no Keras model's "
                                                              "layers")
            assert r["tolerance_to_pass"]["atol"] > r["atol"]

    same = [r for r in rows if (r["save_tf"], r["load_tf"]) == ("2.15", "2.15")
            and r["status"] == "pass"]
    assert same and all(r["diverges_at"] is None for r in same)

    assert main(["show", str(run), "--detail"]) == 0
    shown = capsys.readouterr().out
    assert ("mixed weights-h5 model.load_weights 2.15 -> 2.16: outputs diverge from layer "
            "`logits` (Dense, mixed_float16) on, by 1.2e-03; passes at atol") in shown, shown


def test_norm_checkpoint_restore_diverges_at_its_normalization_layer(tmp_path, capsys,
                                                                     cache_dir):
    """Found by running: under 2.15 -> 2.15 a tf-checkpoint restored into the rebuilt `norm`
    model has every parameter bit-identical, yet its outputs differ; the difference starts in
    its preprocessing layer (Normalization), not in a Dense."""
    results = tmp_path / "results"
    rc = main(["run", "--save", "2.15", "--load", "2.15", "--models", "norm",
               "--formats", "tf-checkpoint", "--results-dir", str(results),
               "--cache-dir", str(cache_dir), "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    (run,) = results.iterdir()
    rows = [json.loads(line) for line in (run / "cells.jsonl").read_text().splitlines()]
    restored = [r for r in rows if r["loader"] == "tf.train.Checkpoint.restore"]
    assert len(restored) == 1
    (r,) = restored
    assert r["status"] == "mismatch" and "predictions" in r["differs"]
    assert "parameters" not in r["differs"]
    assert (r["diverges_at"]["layer"], r["diverges_at"]["class"], r["diverges_at"]["index"]) \
        == ("norm", "Normalization", 0)
    assert [d["layer"] for d in r["layer_diffs"]] == ["norm", "dense", "logits"]
