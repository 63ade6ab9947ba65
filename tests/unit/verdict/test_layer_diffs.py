"""Where a prediction starts to differ (harness/verdict/layer_diffs.py), on hand-made per-layer
outputs:
no TensorFlow."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.verdict import layer_diffs
from harness.verdict.judge import judge
from harness.verdict.layer_diffs import LayerOutput, diverges_at, pair, tolerance_to_pass

X = np.linspace(-1.0, 1.0, 32, dtype=np.float32).reshape(8, 4)


def layer(name, array, cls="Dense", policy="float32"):
    return LayerOutput(name, cls, policy, [np.asarray(array)])


def chain(offsets, dtypes=None):
    """Layers l0, l1, ... whose outputs are X moved by offsets[i]."""
    dtypes = dtypes or ["float32"] * len(offsets)
    return [layer(f"l{i}", (X + off).astype(dt), policy="mixed_float16" if dt == "float16"
                  else "float32") for i, (off, dt) in enumerate(zip(offsets, dtypes, strict=True))]


def test_first_layer_beyond_its_tolerance_is_named_with_class_and_policy():
    saved = chain([0, 0, 0])
    loaded = chain([0, 1e-7, 1e-3])
    at = diverges_at(pair(saved, loaded))
    assert at["layer"] == "l2" and at["index"] == 2
    assert at["class"] == "Dense" and at["dtype_policy"] == "float32"
    assert at["max_abs_diff"] == pytest.approx(1e-3, rel=1e-3)
    assert (at["rtol"], at["atol"]) == (1e-6, 1e-6)


def test_growth_is_visible_in_layer_order():
    saved = chain([0, 0, 0, 0])
    loaded = chain([0, 1e-5, 1e-4, 1e-2])
    diffs = layer_diffs.layer_diffs(pair(saved, loaded))
    assert [d["layer"] for d in diffs] == ["l0", "l1", "l2", "l3"]
    got = [d["max_abs_diff"] for d in diffs]
    assert got[0] == 0.0 and got == sorted(got)
    assert got[3] == pytest.approx(1e-2, rel=1e-3)
    assert diverges_at(pair(saved, loaded))["layer"] == "l1"


def test_each_layer_is_judged_by_its_own_dtype():
    # 5e-4 is within float16's 1e-3 but beyond float32's 1e-6
    saved = chain([0, 0, 0], ["float16", "float16", "float32"])
    loaded = chain([0, 5e-4, 5e-4], ["float16", "float16", "float32"])
    assert diverges_at(pair(saved, loaded))["layer"] == "l2"
    saved = chain([0, 0], ["float16", "float16"])
    loaded = chain([0, 4e-3], ["float16", "float16"])
    at = diverges_at(pair(saved, loaded))
    assert (at["layer"], at["dtype"], at["dtype_policy"]) == ("l1", "float16", "mixed_float16")
    assert (at["rtol"], at["atol"]) == (1e-3, 1e-3)


def test_within_everywhere_is_no_divergence():
    assert diverges_at(pair(chain([0, 0]), chain([1e-8, 0]))) is None


def test_layers_pair_by_name_and_missing_ones_are_left_out():
    saved = chain([0, 0, 0])
    loaded = [chain([0, 0, 5.0])[i] for i in (2, 0)]  # l1 gone, order changed
    pairs = pair(saved, loaded)
    assert [s.name for s, _ in pairs] == ["l0", "l2"]
    assert diverges_at(pairs)["layer"] == "l2"


def test_other_shape_or_strings_are_a_divergence_without_a_diff():
    saved = [layer("a", X), LayerOutput("t", "StringLookup", None, [np.array(["x", "y"])])]
    loaded = [layer("a", X), LayerOutput("t", "StringLookup", None, [np.array(["x", "z"])])]
    assert layer_diffs.layer_diffs(pair(saved, loaded))[1]["max_abs_diff"] is None
    assert diverges_at(pair(saved, loaded))["layer"] == "t"
    short = [layer("a", X[:4])]
    assert layer_diffs.layer_diffs(pair([layer("a", X)], short))[0]["max_abs_diff"] is None


def test_tolerance_to_pass_is_the_smallest_that_passes():
    desired = [np.array([1.0, -2.0, 0.5], dtype=np.float32)]
    actual = [np.array([1.0012, -2.0, 0.5], dtype=np.float32)]
    need = tolerance_to_pass(actual, desired, rtol=1e-6, atol=1e-6)
    assert need["rtol"] == 1e-6 and need["or_atol"] == 1e-6
    assert need["atol"] >= 1.2e-3 - 1e-6 - 1e-9
    assert need["atol"] == pytest.approx(1.2e-3, rel=2e-2)
    assert need["or_rtol"] == pytest.approx(1.2e-3, rel=2e-2)
    for rtol, atol in ((need["rtol"], need["atol"]), (need["or_rtol"], need["or_atol"])):
        np.testing.assert_allclose(actual[0], desired[0], rtol=rtol, atol=atol)
    with pytest.raises(AssertionError):  # and just below it does not
        np.testing.assert_allclose(actual[0], desired[0], rtol=1e-6, atol=need["atol"] * 0.9)


def test_tolerance_to_pass_where_no_tolerance_can():
    d = [np.array([0.0, 1.0], dtype=np.float32)]
    assert tolerance_to_pass([d[0].astype(np.float16)], d, 1e-6, 1e-6) is None  # dtype
    assert tolerance_to_pass([np.array([np.inf, 1.0], np.float32)], d, 1e-6, 1e-6) is None
    assert tolerance_to_pass([np.array([1, 2])], [np.array([1, 3])], 1e-6, 1e-6) is None
    # a reference of 0 with a difference beyond atol: no rtol helps, atol does
    need = tolerance_to_pass([np.array([1e-3, 1.0], np.float32)], d, 1e-6, 1e-6)
    assert need["or_rtol"] is None and need["atol"] >= 1e-3


def _write_cell(tmp_path, saved, loaded, ref_out, got_out, loaded_meta=True):
    ref = tmp_path / "ref"
    ref.mkdir()
    arrays = {"x0": X, **{f"y{i}": y for i, y in enumerate(ref_out)}}
    arrays |= {f"l{i}_0": lo.arrays[0] for i, lo in enumerate(saved)}
    meta = {"model": "m", "scope": "m", "n_outputs": len(ref_out), "param_names": [],
            "inputs": [{"name": "x", "dtype": "float32", "shape": [None, 4]}],
            "layer_outputs": {"layers": [{"name": lo.name, "class": lo.cls,
                                          "dtype_policy": lo.policy, "n": 1}
                                         for lo in saved]}}
    np.savez(ref / "reference.npz", **arrays)
    (ref / "reference.json").write_text(json.dumps(meta))
    npz = tmp_path / "c.npz"
    np.savez(npz, **{f"y{i}": y for i, y in enumerate(got_out)},
             **{f"l{i}_0": lo.arrays[0] for i, lo in enumerate(loaded)})
    result = {"status": "ok", "n_outputs": len(got_out), "param_names": None,
              "loader": "keras.models.load_model",
              "layer_outputs": {"layers": [{"name": lo.name, "class": lo.cls,
                                            "dtype_policy": lo.policy, "n": 1}
                                           for lo in loaded]} if loaded_meta else None}
    return result, npz, ref


def test_a_prediction_mismatch_row_says_where_and_what_would_pass(tmp_path):
    saved = chain([0, 0, 0], ["float16", "float16", "float16"])
    loaded = chain([0, 2e-3, 3e-3], ["float16", "float16", "float16"])
    result, npz, ref = _write_cell(tmp_path, saved, loaded, [saved[-1].arrays[0]],
                                   [loaded[-1].arrays[0]])
    fields = judge(result, npz, ref, {"format": "keras"})
    assert fields["status"] == "mismatch" and fields["differs"] == ["predictions"]
    assert fields["diverges_at"]["layer"] == "l1"
    assert fields["diverges_at"]["dtype_policy"] == "mixed_float16"
    assert [d["layer"] for d in fields["layer_diffs"]] == ["l0", "l1", "l2"]
    need = fields["tolerance_to_pass"]
    np.testing.assert_allclose(loaded[-1].arrays[0], saved[-1].arrays[0], rtol=need["rtol"],
                               atol=need["atol"])
    assert "layers_not_compared" not in fields["notes"]
    line = layer_diffs.divergence_line(fields)
    assert line.startswith("outputs diverge from layer `l1` (Dense, mixed_float16) on, by ")
    assert "; passes at atol " in line


def test_without_layer_outputs_the_row_says_why(tmp_path):
    saved = chain([0, 0])
    result, npz, ref = _write_cell(tmp_path, saved, [], [X], [X + 1], loaded_meta=False)
    result["loader"] = "tf.saved_model.load"
    fields = judge(result, npz, ref, {"format": "savedmodel"})
    assert fields["status"] == "mismatch"
    assert fields["notes"]["layers_not_compared"] == \
        "`tf.saved_model.load` gives back no Keras model's layers"
    assert fields["tolerance_to_pass"]["atol"] >= 1.0
    assert fields.get("diverges_at") is None


def test_a_reference_without_layer_outputs_says_so(tmp_path):
    saved = chain([0])
    result, npz, ref = _write_cell(tmp_path, saved, saved, [X], [X + 1])
    meta = json.loads((ref / "reference.json").read_text())
    del meta["layer_outputs"]
    (ref / "reference.json").write_text(json.dumps(meta))
    fields = judge(result, npz, ref, {"format": "keras"})
    assert "made before" in fields["notes"]["layers_not_compared"]


def test_a_pass_has_no_layer_fields(tmp_path):
    saved = chain([0, 0])
    result, npz, ref = _write_cell(tmp_path, saved, saved, [X], [X])
    fields = judge(result, npz, ref, {"format": "keras"})
    assert fields["status"] == "pass"
    assert "diverges_at" not in fields and "layers_not_compared" not in fields["notes"]


def test_detail_lines_name_the_cell():
    row = {"status": "mismatch", "differs": ["predictions"], "model": "mixed",
           "format": "weights-h5", "loader": "model.load_weights", "save_tf": "2.15",
           "load_tf": "2.16", "notes": {},
           "diverges_at": {"layer": "dense", "class": "Dense", "dtype_policy": "mixed_float16",
                           "max_abs_diff": 1.2e-3},
           "tolerance_to_pass": {"atol": 2e-3, "rtol": 1e-3, "or_rtol": 0.12, "or_atol": 1e-3},
           "layer_diffs": [{"layer": "dense", "max_abs_diff": 1.2e-3},
                           {"layer": "logits", "max_abs_diff": 2e-3}]}
    other = {"status": "mismatch", "differs": ["predictions"], "model": "mlp",
             "format": "savedmodel", "loader": "tf.saved_model.load", "save_tf": "2.15",
             "load_tf": "2.16", "notes": {"layers_not_compared": "no Keras model"}}
    lines = layer_diffs.detail_lines([row, other, {"status": "pass"}])
    assert lines == [
        "Where the outputs start to differ:",
        "  mixed weights-h5 model.load_weights 2.15 -> 2.16: outputs diverge from layer "
        "`dense` (Dense, mixed_float16) on, by 1.2e-03; passes at atol 2.0e-03 (or rtol 1.2e-01); "
        "per layer dense 1.2e-03, logits 2.0e-03",
        "  mlp savedmodel tf.saved_model.load 2.15 -> 2.16: no per-layer comparison: "
        "no Keras model"]


def test_the_verdict_words_say_where_a_prediction_mismatch_starts():
    from harness.verdict.decide import size

    cell = {"status": "mismatch", "differs": ["predictions"], "max_abs_diff": 1.2e-3,
            "rtol": 1e-3, "atol": 1e-3, "params_total": 4, "params_equal": 4,
            "notes": {"output_dtype": "float16"},
            "diverges_at": {"layer": "logits", "class": "Dense", "dtype_policy": "mixed_float16",
                            "max_abs_diff": 1.2e-3},
            "tolerance_to_pass": {"atol": 1.1e-3, "or_rtol": 2.5e-3}}
    assert size(cell).endswith("weights bit-identical; diverges from layer `logits` "
                               "(Dense, mixed_float16) on; passes at atol 1.1e-03")
    assert "diverges" not in size(dict(cell, diverges_at=None))
