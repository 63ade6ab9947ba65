"""Why a prediction differs: the first layer whose output diverges, numpy only.

The worker records each layer's output on the stored inputs on both sides (worker/layers.py):
the save side once per reference (reference.json `layer_outputs`, reference.npz `l<i>_<j>`),
the load side per Keras-side load (the result's `layer_outputs`, the cell's npz).  For a cell
whose predictions differ, the row gets (names are vocabulary):

- `layer_diffs`: max |diff| per layer, in the save side's order, so the growth is visible;
- `diverges_at`: the first layer beyond the tolerance of its own output's dtype (a float16
  layer of a mixed_float16 model gets float16's), with its class and dtype policy;
- `tolerance_to_pass`: the smallest atol (at the cell's rtol) and the smallest rtol (at its
  atol) at which the cell's outputs would pass: Polygraphy's "required tolerances".

Where there is nothing per layer to compare, `notes.layers_not_compared` says why.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .compare import compare_predictions


@dataclass
class LayerOutput:
    name: str
    cls: str | None
    policy: str | None
    arrays: list[np.ndarray]


def read_layers(meta: dict | None, npz) -> tuple[list[LayerOutput] | None, str | None]:
    """The layers a worker recorded (`meta` is its `layer_outputs`), or None and why not."""
    if meta is None:
        return None, "not recorded"
    if meta.get("unavailable"):
        return None, str(meta["unavailable"])
    out = []
    with np.load(npz) as z:
        for i, layer in enumerate(meta.get("layers") or []):
            arrays = [z[f"l{i}_{j}"] for j in range(int(layer.get("n", 1)))]
            out.append(LayerOutput(layer["name"], layer.get("class"),
                                   layer.get("dtype_policy"), arrays))
    return out, None


def pair(saved: list[LayerOutput], loaded: list[LayerOutput]) -> list[tuple[LayerOutput,
                                                                             LayerOutput]]:
    """Save-side layers in order with the load-side layer of the same name (automatic names are
    stable: both workers clear Keras's session first)."""
    by_name = {layer.name: layer for layer in loaded}
    return [(s, by_name[s.name]) for s in saved if s.name in by_name]


def layer_diffs(pairs: list[tuple[LayerOutput, LayerOutput]]) -> list[dict]:
    """One entry per paired layer, in order: name, output dtype, max |diff| (None where the
    outputs cannot be subtracted: other shapes, strings that differ)."""
    out = []
    for saved, loaded in pairs:
        dtype = str(saved.arrays[0].dtype) if saved.arrays else None
        out.append({"layer": saved.name, "dtype": dtype,
                    "max_abs_diff": _max_abs_diff(loaded.arrays, saved.arrays)})
    return out


def _max_abs_diff(actual: list[np.ndarray], desired: list[np.ndarray]) -> float | None:
    if len(actual) != len(desired):
        return None
    worst = 0.0
    for a, d in zip(actual, desired, strict=True):
        if a.shape != d.shape:
            return None
        if a.dtype.kind not in "fciub" or d.dtype.kind not in "fciub":
            if not np.array_equal(a, d):
                return None
            continue
        if a.size:
            a64, d64 = a.astype(np.float64), d.astype(np.float64)
            with np.errstate(invalid="ignore"):
                diff = np.where(a64 == d64, 0.0, np.abs(a64 - d64))
            worst = max(worst, float(np.nanmax(diff)) if not np.all(np.isnan(diff)) else 0.0)
    return worst


def diverges_at(pairs: list[tuple[LayerOutput, LayerOutput]],
                tolerance: tuple[float, float] | None = None,
                floor: tuple[float, float] | None = None) -> dict | None:
    """The first layer whose output is beyond the tolerance of its dtype (the cell's own
    `tolerance` / format `floor` apply as they do to the outputs), or None."""
    for i, (saved, loaded) in enumerate(pairs):
        rep = compare_predictions(loaded.arrays, saved.arrays, tolerance, floor)
        if rep.within:
            continue
        return {"layer": saved.name, "index": i, "class": saved.cls,
                "dtype_policy": saved.policy,
                "dtype": str(saved.arrays[0].dtype) if saved.arrays else None,
                "max_abs_diff": rep.max_abs_diff, "rtol": rep.rtol, "atol": rep.atol,
                "problem": rep.problem}
    return None


def tolerance_to_pass(actual: list[np.ndarray], desired: list[np.ndarray],
                      rtol: float, atol: float) -> dict | None:
    """The smallest atol at which `actual` passes with `rtol` kept, and the smallest rtol with
    `atol` kept (assert_allclose's check, desired the reference); None where no tolerance can
    make it pass (other shapes or dtypes, strings or ids that differ, non-finite values that
    differ)."""
    need_atol, need_rtol = 0.0, 0.0
    if len(actual) != len(desired):
        return None
    for a, d in zip(actual, desired, strict=True):
        if a.shape != d.shape or a.dtype != d.dtype:
            return None
        if d.dtype.kind not in "fc":
            if not np.array_equal(a, d):
                return None
            continue
        a64, d64 = a.astype(np.float64), d.astype(np.float64)
        if not np.array_equal(np.isfinite(a64), np.isfinite(d64)):
            return None
        both_nan = np.isnan(a64) & np.isnan(d64)
        with np.errstate(invalid="ignore"):
            diff = np.where((a64 == d64) | both_nan, 0.0, np.abs(a64 - d64))
        scale = np.abs(d64)
        if not diff.size:
            continue
        need_atol = max(need_atol, float(np.max(diff - rtol * scale)))
        over = diff - atol
        if np.any((over > 0) & (scale == 0)):
            need_rtol = math.inf
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(over > 0, over / scale, 0.0)
            need_rtol = max(need_rtol, float(np.max(rel)))
    return {"atol": _ceil(max(need_atol, 0.0)), "rtol": rtol,
            "or_rtol": None if math.isinf(need_rtol) else _ceil(max(need_rtol, 0.0)),
            "or_atol": atol}


def _ceil(x: float, digits: int = 2) -> float:
    """x rounded up to `digits` significant digits: a tolerance that really passes."""
    if x <= 0 or not math.isfinite(x):
        return x
    exp = math.floor(math.log10(x)) - digits + 1
    up = math.ceil(x / 10.0 ** exp - 1e-9) * 10.0 ** exp
    return float(f"{up:.{digits}g}") if float(f"{up:.{digits}g}") >= x else up


def row_fields(ref_meta: dict, ref_dir: Path, result: dict, npz: Path,
               outputs: list[np.ndarray], ref_outputs: list[np.ndarray], rtol: float | None,
               atol: float | None, tolerance: tuple[float, float] | None = None,
               floor: tuple[float, float] | None = None) -> tuple[dict, str | None]:
    """A prediction mismatch's fields (`layer_diffs`, `diverges_at`, `tolerance_to_pass`)
    and, where there are no per-layer outputs to compare, why not (notes.layers_not_compared)."""
    try:
        return _row_fields(ref_meta, ref_dir, result, npz, outputs, ref_outputs, rtol, atol,
                           tolerance, floor)
    except Exception as exc:  # an explanation that fails must not change the verdict
        return {}, f"per-layer comparison failed: {type(exc).__name__}: {exc}"


def _row_fields(ref_meta, ref_dir, result, npz, outputs, ref_outputs, rtol, atol, tolerance,
                floor) -> tuple[dict, str | None]:
    fields: dict = {"tolerance_to_pass": None if rtol is None or atol is None else
                    tolerance_to_pass(outputs, ref_outputs, rtol, atol)}
    saved, why = read_layers(ref_meta.get("layer_outputs"), Path(ref_dir) / "reference.npz")
    if saved is None:
        return fields, ("the save side recorded no layer outputs (a reference made before "
                        "they were)" if why == "not recorded" else f"save side: {why}")
    loaded, why = read_layers(result.get("layer_outputs"), npz)
    if loaded is None:
        return fields, (f"`{result.get('loader')}` gives back no Keras model's layers"
                        if why == "not recorded" else f"load side: {why}")
    pairs = pair(saved, loaded)
    if not pairs:
        return fields, "no layer of the saved model has its name after loading"
    fields["layer_diffs"] = layer_diffs(pairs)
    fields["diverges_at"] = diverges_at(pairs, tolerance, floor)
    if fields["diverges_at"] is None:
        return fields, "every layer is within its dtype's tolerance"
    return fields, None


def divergence_line(row: dict) -> str | None:
    """`mixed: outputs diverge from layer `dense` (Dense, mixed_float16) on, by 1.2e-03;
    passes at atol 2e-03` for a row with `diverges_at`, else None."""
    at = row.get("diverges_at")
    if isinstance(at, str):
        at = json.loads(at)
    if not isinstance(at, dict):
        return None
    what = ", ".join(str(v) for v in (at.get("class"), at.get("dtype_policy")) if v)
    line = (f"outputs diverge from layer `{at['layer']}`" + (f" ({what})" if what else "")
            + f" on, by {at['max_abs_diff']:.1e}")
    need = row.get("tolerance_to_pass")
    if isinstance(need, dict) and need.get("atol") is not None:
        line += f"; passes at atol {need['atol']:.1e}"
        if need.get("or_rtol") is not None:
            line += f" (or rtol {need['or_rtol']:.1e})"
    diffs = row.get("layer_diffs")
    if isinstance(diffs, list) and len(diffs) > 1:
        line += "; per layer " + ", ".join(
            f"{d['layer']} {d['max_abs_diff']:.1e}" if d.get("max_abs_diff") is not None
            else f"{d['layer']} ?" for d in diffs)
    return line


def detail_lines(rows: list[dict]) -> list[str]:
    """`harness show --detail`: one line per prediction mismatch that has per-layer outputs
    (or says why it has none), under a heading; nothing when there is none."""
    out = []
    for row in rows:
        if row.get("status") != "mismatch" or "predictions" not in (row.get("differs") or []):
            continue
        why = (row.get("notes") or {}).get("layers_not_compared") \
            if isinstance(row.get("notes"), dict) else None
        line = divergence_line(row) or (f"no per-layer comparison: {why}" if why else None)
        if line:
            out.append(f"  {row['model']} {row['format']} {row['loader']} "
                       f"{row['save_tf']} -> {row['load_tf']}: {line}")
    return ["Where the outputs start to differ:", *out] if out else []
