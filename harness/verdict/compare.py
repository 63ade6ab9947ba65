"""Comparison on the host, numpy only: parameters by normalized name, bit-exact; predictions
with per-dtype tolerances.  Raw metrics are always kept, whatever the verdict."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np

from ..vocab import TOLERANCES

_ATTR_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_DEVICE_SUFFIX = re.compile(r":\d+$")


def normalize_name(raw: str, scope: str | None = None) -> str:
    """One form for a parameter's name, whoever wrote it.

    Keras 2 `dense/kernel:0`, Keras 3 `dense/kernel`, checkpoint keys
    `.../kernel/.ATTRIBUTES/VARIABLE_VALUE` and h5 paths `/dense/kernel:0` all become
    `dense/kernel`; a leading model scope (`custom/head/kernel`) is dropped.
    """
    name = raw.strip("/").removesuffix(_ATTR_SUFFIX)
    name = _DEVICE_SUFFIX.sub("", name)
    if scope and name.startswith(scope + "/"):
        name = name[len(scope) + 1:]
    return name


def normalized(params: list[tuple[str, np.ndarray]], scope: str | None) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for raw, value in params:
        name = normalize_name(raw, scope)
        key, n = name, 1
        while key in out:  # keep twins visible rather than silently overwriting one
            n += 1
            key = f"{name}#{n}"
        out[key] = value
    return out


@dataclass
class ParamReport:
    total: int = 0  # parameters in the reference
    equal: int = 0  # bit-identical
    missing: int = 0
    extra: int = 0
    shape: int = 0
    dtype: int = 0
    value: int = 0
    by_value: int = 0  # of `equal`: paired by identical bytes because the names did not match
    diffs: list[str] = field(default_factory=list)  # the first few, "name: what"

    @property
    def ok(self) -> bool:
        return self.equal == self.total and self.extra == 0

    def fields(self) -> dict:
        d = asdict(self)
        return {"params_" + k if k != "diffs" else "param_diffs": v for k, v in d.items()}


MAX_LISTED = 12


def bit_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _content_key(a: np.ndarray) -> tuple:
    return (a.dtype.str, a.shape, a.tobytes())


def compare_params(reference: dict[str, np.ndarray], loaded: dict[str, np.ndarray]) -> ParamReport:
    """Pair parameters by normalized name; then pair what is left by identical content.

    Some loaders rename variables (TFSMLayer writes `dense_kernel:0`; Keras 3 names a subclassed
    model's tf.Variables `custom/kernel:0` twice).  A leftover that has a bit-identical twin on
    the other side is counted equal and in `by_value`; one that has none is missing/extra, so a
    changed value can never pass this way.
    """
    r = ParamReport(total=len(reference))
    problems: list[tuple[str, str]] = []  # (name, what), reported only if still unpaired
    unpaired_ref: dict[str, np.ndarray] = {}
    for name, want in reference.items():
        got = loaded.get(name)
        if got is None:
            unpaired_ref[name] = want
        elif bit_equal(got, want):
            r.equal += 1
        elif got.shape != want.shape:
            r.shape += 1
            problems.append((name, f"shape {list(got.shape)} != {list(want.shape)}"))
        elif got.dtype != want.dtype:
            r.dtype += 1
            problems.append((name, f"dtype {got.dtype} != {want.dtype}"))
        else:
            r.value += 1
            diff = np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))) \
                if want.dtype.kind in "fiu" and want.size else float("nan")
            problems.append((name, f"values differ (max |diff| {diff:.3g})"))
    leftovers: dict[tuple, list[str]] = {}
    for name in loaded.keys() - reference.keys():
        leftovers.setdefault(_content_key(loaded[name]), []).append(name)
    for name, want in unpaired_ref.items():
        twins = leftovers.get(_content_key(want))
        if twins:
            twins.pop()
            r.equal += 1
            r.by_value += 1
        else:
            r.missing += 1
            problems.append((name, "missing"))
    for names in leftovers.values():
        for name in names:
            r.extra += 1
            problems.append((name, "extra"))
    r.diffs = [f"{n}: {what}" for n, what in problems[:MAX_LISTED]]
    return r


def ulp_distance(actual: np.ndarray, desired: np.ndarray) -> np.ndarray:
    """How many representable floats lie between actual and desired (0 = identical)."""
    dtype = np.result_type(actual.dtype, desired.dtype)
    if dtype.kind != "f" or dtype.itemsize not in (2, 4, 8):
        return np.abs(actual.astype(np.float64) - desired.astype(np.float64))
    ints = {2: np.int16, 4: np.int32, 8: np.int64}[dtype.itemsize]

    def ordered(x):  # map IEEE bit patterns onto a monotonic integer line
        i = np.ascontiguousarray(x, dtype=dtype).view(ints).astype(np.int64)
        return np.where(i < 0, np.iinfo(ints).min - i, i)

    a, d = ordered(actual), ordered(desired)
    if dtype.itemsize == 8:  # float64 distances can exceed int64 across zero: Python ints
        return np.abs(a.astype(object) - d.astype(object)).astype(np.float64)
    return np.abs(a - d)


@dataclass
class PredictionReport:
    within: bool = True
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    max_ulp: float | None = None
    rtol: float | None = None
    atol: float | None = None
    problem: str | None = None


def tolerance_for(dtype: np.dtype,
                  override: tuple[float, float] | None = None) -> tuple[float, float]:
    if override:
        return override
    return TOLERANCES.get(np.dtype(dtype).name, TOLERANCES["float32"])


def compare_predictions(actual: list[np.ndarray], desired: list[np.ndarray],
                        tolerance: tuple[float, float] | None = None,
                        floor: tuple[float, float] | None = None) -> PredictionReport:
    """The check of numpy.testing.assert_allclose(actual, desired, rtol, atol): desired is the
    save side's reference, so the relative part scales with the reference (it is asymmetric).

    `tolerance` (a matrix's or a fixture's own) replaces the per-dtype one; `floor` (a format's,
    e.g. another runtime's kernels) only loosens it: a float16 output keeps float16's tolerance
    even where the format's float32 one is tighter."""
    rep = PredictionReport()
    if len(actual) != len(desired):
        rep.within, rep.problem = False, f"{len(actual)} outputs, reference has {len(desired)}"
        return rep
    maxes = {"abs": 0.0, "rel": 0.0, "ulp": 0.0}
    for i, (a, d) in enumerate(zip(actual, desired, strict=True)):
        if a.shape != d.shape:
            rep.within, rep.problem = False, f"output {i}: shape {list(a.shape)} != {list(d.shape)}"
            return rep
        if d.dtype.kind not in "fc" or a.dtype.kind not in "fc":
            # strings, ids, booleans: equal or not (no tolerance means anything for them)
            if a.dtype.kind != d.dtype.kind or not np.array_equal(a, d):
                n = int(np.sum(a != d)) if a.dtype.kind == d.dtype.kind else a.size
                rep.within = False
                rep.problem = rep.problem or f"output {i} ({d.dtype}): {n} values differ"
            continue
        rtol, atol = tolerance_for(d.dtype, tolerance)
        if floor:
            rtol, atol = max(rtol, floor[0]), max(atol, floor[1])
        rep.rtol, rep.atol = rtol, atol
        if a.dtype != d.dtype:  # e.g. a mixed_float16 model loaded without its policy
            rep.within = False
            rep.problem = rep.problem or f"output {i}: dtype {a.dtype} != {d.dtype}"
        a64, d64 = a.astype(np.float64), d.astype(np.float64)
        # Equal values (the same infinity included) differ by 0, as assert_allclose counts them.
        with np.errstate(invalid="ignore"):
            abs_diff = np.where(a64 == d64, 0.0, np.abs(a64 - d64))
        if not np.all(np.isfinite(a64) == np.isfinite(d64)):
            rep.within, rep.problem = False, f"output {i}: non-finite values differ"
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(d64 != 0, abs_diff / np.abs(d64), np.where(abs_diff == 0, 0.0, np.inf))
        if abs_diff.size:
            maxes["abs"] = max(maxes["abs"], float(np.nanmax(abs_diff)))
            maxes["rel"] = max(maxes["rel"], float(np.nanmax(rel)))
            maxes["ulp"] = max(maxes["ulp"], float(np.max(ulp_distance(a, d))))
        both_nan = np.isnan(a64) & np.isnan(d64)  # assert_allclose's equal_nan=True
        if not np.all((abs_diff <= atol + rtol * np.abs(d64)) | both_nan):
            rep.within = False
            rep.problem = rep.problem or f"output {i} beyond rtol={rtol:g}, atol={atol:g}"
    rep.max_abs_diff, rep.max_rel_diff, rep.max_ulp = maxes["abs"], maxes["rel"], maxes["ulp"]
    return rep


@dataclass
class ResumeReport:
    ok: bool
    max_abs_diff: float | None = None
    problem: str | None = None


def compare_resumed(reference: list[tuple[str, np.ndarray]], loaded: list[tuple[str, np.ndarray]],
                    scope: str | None) -> ResumeReport:
    """The weights after one optimizer step on the save side vs after loading, per-dtype
    tolerance (the step's gradients are not bit-identical across versions).  Paired by
    normalized name; what is left over, in order, where the shapes agree."""
    ref, got = normalized(reference, scope), normalized(loaded, scope)
    pairs = [(n, ref[n], got[n]) for n in ref if n in got]
    rest_ref = [n for n in ref if n not in got]
    rest_got = [n for n in got if n not in ref]
    for n, m in zip(rest_ref, rest_got, strict=False):
        if ref[n].shape == got[m].shape:
            pairs.append((n, ref[n], got[m]))
    if len(pairs) != len(ref):
        return ResumeReport(False, None, f"{len(ref) - len(pairs)} of {len(ref)} weights "
                                         "have no counterpart after the step")
    worst, bad = 0.0, []
    for name, want, have in pairs:
        if want.dtype.kind not in "fc":
            if not np.array_equal(want, have):
                bad.append(name)
            continue
        rtol, atol = tolerance_for(want.dtype)
        w64, h64 = want.astype(np.float64), have.astype(np.float64)
        diff = np.abs(w64 - h64)
        if diff.size:
            worst = max(worst, float(np.max(diff)))
        if not np.all(diff <= atol + rtol * np.abs(w64)):
            bad.append(name)
    if bad:
        return ResumeReport(False, worst, f"{len(bad)} of {len(ref)} weights differ "
                                          f"(first: {bad[0]}; max |diff| {worst:.3g})")
    return ResumeReport(True, worst)
