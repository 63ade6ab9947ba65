"""harness.verdict.judge on files laid out as the worker's save.py and load.py write them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.verdict.judge import judge

KERNEL = (np.arange(6, dtype=np.float32).reshape(3, 2) - 2.5) / 3
BIAS = np.array([0.25, -0.5], np.float32)
INPUTS = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
OUTPUTS = [INPUTS @ KERNEL + BIAS]
REF_PARAMS = [("dense/kernel:0", KERNEL), ("dense/bias:0", BIAS)]  # Keras 2 names


@pytest.fixture
def ref_dir(tmp_path: Path) -> Path:
    """As worker/save.py write_reference: inputs, y<i>, p<i> and the json beside them."""
    d = tmp_path / "ref"
    d.mkdir()
    arrays = {"inputs": INPUTS} | {f"y{i}": y for i, y in enumerate(OUTPUTS)}
    arrays |= {f"p{i}": v for i, (_, v) in enumerate(REF_PARAMS)}
    np.savez(d / "reference.npz", **arrays)
    (d / "reference.json").write_text(json.dumps({
        "model": "mlp", "scope": "mlp", "n_outputs": len(OUTPUTS),
        "param_names": [n for n, _ in REF_PARAMS], "versions": {"tf": "2.12.1"}}))
    return d


def loaded(tmp_path: Path, outputs, params, loader="keras.models.load_model", notes=None):
    """As worker/load.py run_load: l0000.npz and its result dict (plus the loader the host adds)."""
    npz = tmp_path / "l0000.npz"
    arrays = {f"y{i}": y for i, y in enumerate(outputs or [])}
    arrays |= {f"p{i}": v for i, (_, v) in enumerate(params or [])}
    np.savez(npz, **arrays)
    result = {"status": "ok", "loader": loader,
              "n_outputs": None if outputs is None else len(outputs),
              "param_names": None if params is None else [n for n, _ in params],
              "notes": notes or {}}
    return result, npz


def test_pass(tmp_path, ref_dir):
    params = [("mlp/dense/kernel", KERNEL.copy()), ("mlp/dense/bias", BIAS.copy())]  # Keras 3
    result, npz = loaded(tmp_path, [OUTPUTS[0] + np.float32(1e-7)], params, notes={"a": 1})
    row = judge(result, npz, ref_dir, manifest={})
    assert row["status"] == "pass" and "error" not in row
    assert (row["params_total"], row["params_equal"]) == (2, 2)
    assert row["notes"] == {"a": 1}
    assert 0 < row["max_abs_diff"] < 1e-6 and row["rtol"] == 1e-6


def test_a_matrix_tolerance_is_looked_up_by_the_reference_dtype(tmp_path, ref_dir):
    result, npz = loaded(tmp_path, [OUTPUTS[0] + np.float32(1e-3)], REF_PARAMS)
    asked = []

    def table(dtype):  # as Matrix.tolerance(fmt, dtype): one rule for float32
        asked.append(dtype)
        return (1e-2, 1e-2) if dtype == "float32" else None

    row = judge(result, npz, ref_dir, manifest={}, tolerance_for_dtype=table)
    assert asked == ["float32"]
    assert row["status"] == "pass" and (row["rtol"], row["atol"]) == (1e-2, 1e-2)
    row = judge(result, npz, ref_dir, manifest={}, tolerance_for_dtype=lambda dtype: None)
    assert row["status"] == "mismatch" and row["rtol"] == 1e-6  # no rule: the defaults


def test_changed_parameter_is_a_mismatch(tmp_path, ref_dir):
    bias = BIAS.copy()
    bias[1] = np.nextafter(bias[1], np.float32(0))
    result, npz = loaded(tmp_path, OUTPUTS, [("dense/kernel:0", KERNEL), ("dense/bias:0", bias)])
    row = judge(result, npz, ref_dir, manifest={})
    assert row["status"] == "mismatch"
    assert row["params_value"] == 1 and row["params_equal"] == 1
    assert any(d.startswith("dense/bias: values differ") for d in row["param_diffs"])
    assert "parameters: 1/2 bit-identical" in row["error"]


def test_predictions_beyond_tolerance_are_a_mismatch(tmp_path, ref_dir):
    result, npz = loaded(tmp_path, [OUTPUTS[0] + np.float32(1e-3)], REF_PARAMS)
    row = judge(result, npz, ref_dir, manifest={})
    assert row["status"] == "mismatch" and row["params_equal"] == 2
    assert row["error"].startswith("predictions: output 0 beyond")
    assert row["max_abs_diff"] == pytest.approx(1e-3, rel=1e-3)


def test_load_checkpoint_keys_are_mapped_and_slots_dropped(tmp_path, ref_dir):
    k = "model/layer_with_weights-0/{}/.ATTRIBUTES/VARIABLE_VALUE"
    slot = k.format("kernel/.OPTIMIZER_SLOT/optimizer/m")
    params = [(k.format("bias"), BIAS), (k.format("kernel"), KERNEL),
              (slot, np.zeros_like(KERNEL)),
              ("optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE", np.array(3, np.int64))]
    manifest = {"checkpoint_keys": {k.format("kernel"): "dense/kernel:0",
                                    k.format("bias"): "dense/bias:0"}}
    result, npz = loaded(tmp_path, None, params, loader="tf.train.load_checkpoint",
                         notes={"keys": 4})
    row = judge(result, npz, ref_dir, manifest)
    assert row["status"] == "pass", row.get("error")
    assert (row["params_total"], row["params_equal"], row["params_extra"]) == (2, 2, 0)
    assert row["notes"] == {"keys": 4, "non_parameter_keys": 2}
    assert "max_abs_diff" not in row  # this loader gives no predictions


def test_checkpoint_keys_are_not_mapped_for_other_loaders(tmp_path, ref_dir):
    params = [("model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", KERNEL)]
    manifest = {"checkpoint_keys": {params[0][0]: "dense/kernel:0"}}
    result, npz = loaded(tmp_path, OUTPUTS, params, loader="tf.train.Checkpoint.restore")
    row = judge(result, npz, ref_dir, manifest)
    assert "non_parameter_keys" not in row["notes"]
    assert row["params_by_value"] == 1 and row["params_missing"] == 1  # kernel by bytes; no bias
    assert row["status"] == "mismatch"


def test_outputs_without_params(tmp_path, ref_dir):
    result, npz = loaded(tmp_path, OUTPUTS, None, loader="tf.saved_model.load")
    row = judge(result, npz, ref_dir, manifest={})
    assert row["status"] == "pass"
    assert row["max_abs_diff"] == 0.0 and row["max_ulp"] == 0.0
    assert not any(key.startswith("param") for key in row)


def test_neither_outputs_nor_params_is_a_mismatch(tmp_path, ref_dir):
    result, npz = loaded(tmp_path, None, None)
    row = judge(result, npz, ref_dir, manifest={})
    assert row["status"] == "mismatch" and "neither" in row["error"]
