"""The real-TF half of tests/unit/regression/test_inspect.py
(its docstring says what both guard)."""

from __future__ import annotations

import pytest
from support.inspect_helpers import TF1_SM, TF2_SM, TFLITE, needs_fixtures
from support.paths import REPO

from harness.cli import main
from harness.regression.inspect import inspect_artifacts


@needs_fixtures
@pytest.mark.parametrize("spec", ["2.12", "2.21"])
def test_inspects_real_artifacts_in_a_real_environment(spec, tmp_path, cache_dir, uv_available):
    tb = tmp_path / "tb"
    tf1, tf2, lite = inspect_artifacts([TF1_SM, TF2_SM, TFLITE], spec, cache_dir, tensorboard=tb)
    assert tf1["read_with"]["tf"].startswith(spec)

    assert tf1["status"] == "ok" and tf1["format"] == "savedmodel"
    assert tf1["producer_in_artifact"]["tensorflow_version"] == "1.14.0"
    assert tf1["signatures"]["serving_default"]["inputs"]["x"]["shape"] == [-1, 1]
    assert tf1["signatures"]["serving_default"]["outputs"]["y"]["dtype"] == "float32"
    assert {v["name"] for v in tf1["variables"]} == {"a", "b", "c", "a2", "c2"}
    assert tf1["parameter_count"] == 5

    assert tf2["producer_in_artifact"]["tensorflow_version"] == "2.14.0"
    assert tf2["signatures"]["serving_default"]["inputs"]["x"] == {
        "name": "serving_default_x:0", "dtype": "float32", "shape": [1]}
    assert tf2["parameter_count"] == 3
    if spec == "2.12":  # found by running: TF 2.12 cannot load what TF 2.14 wrote
        assert tf2["tensorboard_graph"] is None
        assert "NotEncodableError" in tf2["tensorboard_note"]
    else:
        assert tf2["tensorboard_graph"] == "signature 'serving_default'"
        assert list((tb / "1").glob("events.out.tfevents.*")), "no TensorBoard event file"
    assert tf1["tensorboard_graph"] == "signature 'serving_default'"  # TF 1.14's loads in both
    assert list((tb / "0").glob("events.out.tfevents.*"))

    assert lite["format"] == "tflite"
    assert lite["signatures"]["model"]["inputs"]["x"] == {"dtype": "float32", "shape": [1, 1]}
    assert sorted(v["name"] for v in lite["variables"]) == ["a", "b"]
    assert lite["tensorboard_graph"] is None  # a flatbuffer holds no TF graph: said, not faked


@needs_fixtures
def test_cli_prints_what_a_user_needs(capsys, cache_dir, uv_available):
    assert main(["inspect", str(TF1_SM), "--tf", "2.21", "--cache-dir", str(cache_dir)]) == 0
    out = capsys.readouterr().out
    assert "format:    savedmodel" in out
    assert '"tensorflow_version": "1.14.0"' in out
    assert "signature serving_default:" in out and "variables: 5, model parameters: 5" in out


CKPT = REPO / "fixtures" / "cnn-tf-checkpoint-tf2.12.1" / "artifact"


@pytest.mark.skipif(not CKPT.is_dir(), reason="the repository's fixtures are not there")
def test_optimizer_slots_are_not_counted_as_model_parameters(capsys, cache_dir, uv_available):
    """A training checkpoint holds Adam's two slots per weight and a step counter beside the
    weights: `inspect` counts the model's parameters alone and names the rest."""
    (r,) = inspect_artifacts([CKPT], "2.16", cache_dir)
    everything = sum(int(__import__("numpy").prod(v["shape"] or [1])) for v in r["variables"])
    assert r["parameter_count"] + sum(r["state_counts"].values()) == everything
    assert r["state_counts"]["optimizer"] > r["parameter_count"]  # m and v for each weight
    assert main(["inspect", str(CKPT), "--tf", "2.16", "--cache-dir", str(cache_dir)]) == 0
    assert f"model parameters: {r['parameter_count']} (besides: optimizer state " in \
        capsys.readouterr().out
