"""harness.verdict.compare: parameter names, bit-exact parameters, ULPs and prediction
tolerances."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.verdict.compare import (
    compare_params,
    compare_predictions,
    normalize_name,
    normalized,
    ulp_distance,
)
from harness.vocab import TOLERANCES

F32 = np.float32


def arr(*values, dtype=F32) -> np.ndarray:
    return np.array(values, dtype=dtype)


# -- names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, scope, want", [
    ("dense/kernel:0", None, "dense/kernel"),  # Keras 2
    ("dense/kernel", None, "dense/kernel"),  # Keras 3
    ("model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", None,
     "model/layer_with_weights-0/kernel"),  # checkpoint key
    ("/dense/kernel:0", None, "dense/kernel"),  # h5 path
    ("custom/head/kernel", "custom", "head/kernel"),  # model scope dropped
    ("custom/head/kernel:0", "custom", "head/kernel"),
    ("customer/kernel", "custom", "customer/kernel"),  # only a whole leading component
    ("dense/kernel", "mlp", "dense/kernel"),
])
def test_normalize_name(raw, scope, want):
    assert normalize_name(raw, scope) == want


def test_normalized_keeps_twins():
    a, b, c = arr(1), arr(2), arr(3)
    out = normalized([("custom/kernel:0", a), ("custom/kernel", b), ("kernel:0", c)], "custom")
    assert list(out) == ["kernel", "kernel#2", "kernel#3"]
    assert out["kernel"] is a and out["kernel#2"] is b and out["kernel#3"] is c


# -- parameters -----------------------------------------------------------------------------

def params() -> dict[str, np.ndarray]:
    return {"dense/kernel": np.arange(6, dtype=F32).reshape(2, 3) / 7, "dense/bias": arr(0.5, -1)}


def test_bit_identical_params_pass():
    r = compare_params(params(), {k: v.copy() for k, v in params().items()})
    assert r.ok and (r.total, r.equal, r.by_value, r.value) == (2, 2, 0, 0)
    assert r.diffs == []


def test_one_ulp_change_is_a_value_difference():
    loaded = params()
    loaded["dense/bias"] = loaded["dense/bias"].copy()
    loaded["dense/bias"][0] = np.nextafter(F32(0.5), F32(1))
    r = compare_params(params(), loaded)
    assert not r.ok
    assert (r.equal, r.value, r.missing, r.extra) == (1, 1, 0, 0)
    assert r.diffs[0].startswith("dense/bias: values differ")


def test_shape_dtype_missing_extra_counts():
    ref = params() | {"other/w": arr(1, 2)}
    loaded = {
        "dense/kernel": params()["dense/kernel"].reshape(3, 2),  # shape
        "dense/bias": params()["dense/bias"].astype(np.float64),  # dtype
        "surplus/w": arr(9, 9, 9),  # extra; other/w is missing
    }
    r = compare_params(ref, loaded)
    assert (r.total, r.equal, r.shape, r.dtype, r.missing, r.extra) == (3, 0, 1, 1, 1, 1)
    assert not r.ok
    assert "other/w: missing" in r.diffs and "surplus/w: extra" in r.diffs
    fields = r.fields()
    assert fields["params_missing"] == 1 and fields["param_diffs"] == r.diffs


def test_extra_param_alone_fails():
    r = compare_params(params(), params() | {"extra/w": arr(1)})
    assert r.equal == r.total and r.extra == 1 and not r.ok


def test_renamed_params_are_paired_by_value():
    loaded = {"dense_kernel:0": params()["dense/kernel"].copy(), "dense/bias": arr(0.5, -1)}
    r = compare_params(params(), loaded)
    assert r.ok and (r.equal, r.by_value, r.missing, r.extra) == (2, 1, 0, 0)


def test_changed_value_cannot_pass_by_pairing():
    kernel = params()["dense/kernel"].copy()
    kernel[0, 0] = np.nextafter(kernel[0, 0], F32(1))
    r = compare_params(params(), {"dense_kernel:0": kernel, "dense/bias": arr(0.5, -1)})
    assert not r.ok
    assert (r.equal, r.by_value, r.missing, r.extra) == (1, 0, 1, 1)


# -- ULPs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_ulp_neighbours(dtype):
    x = np.array([1.0, -3.5, 1e-3], dtype=dtype)
    up = np.nextafter(x, np.array(np.inf, dtype=dtype))
    assert ulp_distance(x, x).tolist() == [0, 0, 0]
    assert ulp_distance(x, up).tolist() == [1, 1, 1]
    assert ulp_distance(up, x).tolist() == [1, 1, 1]


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_ulp_across_zero(dtype):
    tiny = np.nextafter(dtype(0), dtype(1))  # smallest positive subnormal
    assert ulp_distance(np.array([0.0], dtype), np.array([-0.0], dtype)).tolist() == [0]
    assert ulp_distance(np.array([tiny]), np.array([-tiny])).tolist() == [2]


def test_ulp_float64_across_zero_does_not_overflow():
    d = ulp_distance(np.array([2.0]), np.array([-2.0]))  # 2 * 0x4000000000000000 = 2**63
    assert float(d[0]) == 2.0**63


# -- predictions ----------------------------------------------------------------------------

def test_predictions_within_tolerance():
    d = arr(1, 2, 3)
    rep = compare_predictions([d + F32(5e-7)], [d])
    assert rep.within and rep.problem is None
    assert (rep.rtol, rep.atol) == TOLERANCES["float32"]
    assert 0 < rep.max_abs_diff < 1e-6 and rep.max_ulp >= 1


def test_predictions_beyond_tolerance():
    rep = compare_predictions([arr(1, 2.01)], [arr(1, 2)])
    assert not rep.within
    assert rep.problem.startswith("output 0 beyond rtol=1e-06")
    assert rep.max_abs_diff == pytest.approx(0.01, rel=1e-4)


def test_predictions_are_asymmetric_desired_is_reference():
    a, d, tol = arr(1.0), arr(2.0), (0.5, 0.0)
    assert np.allclose(a, d, *tol) and not np.allclose(d, a, *tol)
    assert compare_predictions([a], [d], tol).within  # |1-2| <= 0.5 * |2|
    assert not compare_predictions([d], [a], tol).within  # |2-1| > 0.5 * |1|


def test_nan_on_both_sides_is_equal_but_not_on_one():
    assert compare_predictions([arr(np.nan, 1)], [arr(np.nan, 1)]).within
    rep = compare_predictions([arr(np.nan, 1)], [arr(0, 1)])
    assert not rep.within and "non-finite" in rep.problem


def test_identical_infinities_are_equal():
    with np.errstate(invalid="ignore"):
        assert compare_predictions([arr(np.inf, 1)], [arr(np.inf, 1)]).within


def test_prediction_shape_mismatch():
    rep = compare_predictions([arr(1, 2)], [arr(1, 2, 3)])
    assert not rep.within and rep.problem == "output 0: shape [2] != [3]"


def test_prediction_output_count_mismatch():
    rep = compare_predictions([arr(1)], [arr(1), arr(2)])
    assert not rep.within and rep.problem == "1 outputs, reference has 2"


def test_float16_uses_looser_default_tolerance():
    d = np.array([1.0], np.float16)
    a = np.nextafter(d, np.float16(2))  # 1 + 2**-10, ~1e-3 away
    rep = compare_predictions([a], [d])
    assert rep.within and (rep.rtol, rep.atol) == TOLERANCES["float16"]
    assert rep.max_ulp == 1
    assert not compare_predictions([a.astype(F32)], [d.astype(F32)]).within


def test_format_floor_loosens_float32_but_never_tightens_float16():
    """A format's tolerance (another runtime's kernels) is a floor: float32 outputs get it, while
    float16 outputs keep float16's own looser one (the `mixed` model's frozen graph and ONNX)."""
    floor = (1e-5, 1e-5)
    d32 = np.array([1.0], F32)
    assert compare_predictions([d32 + F32(5e-6)], [d32], floor=floor).within
    assert not compare_predictions([d32 + F32(5e-6)], [d32]).within
    d16 = np.array([1.0], np.float16)
    a16 = np.nextafter(d16, np.float16(2))
    rep = compare_predictions([a16], [d16], floor=floor)
    assert rep.within and (rep.rtol, rep.atol) == TOLERANCES["float16"]
    # an explicit tolerance (a matrix's or a fixture's) still replaces the dtype's
    assert not compare_predictions([a16], [d16], (1e-5, 1e-5)).within


def test_rows_name_the_harness_package_not_its_folder():
    import harness
    from harness.scrub import machine_paths, scrub_paths

    worker = Path(harness.__file__).resolve().parent / "worker" / "main.py"
    text = scrub_paths(f'File "{worker}", line 3', machine_paths())
    assert text == 'File "<harness>/worker/main.py", line 3'
