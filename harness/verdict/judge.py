"""From a worker's load result to a cell row: read the arrays, compare, decide the status.
numpy only, so it is tested without TensorFlow."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..vocab import FORMAT_TOLERANCES, Status
from .compare import (
    compare_params,
    compare_predictions,
    compare_resumed,
    normalize_name,
    normalized,
)
from .layer_diffs import row_fields as layer_fields


def read_reference(ref_dir: Path) -> tuple[dict, list[np.ndarray], list[tuple[str, np.ndarray]]]:
    """The save side's truth for one model, read once per file version: every loader of every
    format of that model is judged against it (a night of reused cells judges thousands)."""
    ref_dir = Path(ref_dir)
    stamp = tuple((f.stat().st_mtime_ns, f.stat().st_size)
                  for f in (ref_dir / "reference.json", ref_dir / "reference.npz"))
    return _read_reference(str(ref_dir.resolve()), stamp)


@lru_cache(maxsize=256)
def _read_reference(ref_dir: str, stamp: tuple):
    ref_dir = Path(ref_dir)
    meta = json.loads((ref_dir / "reference.json").read_text())
    with np.load(ref_dir / "reference.npz") as z:
        outputs = [z[f"y{i}"] for i in range(meta["n_outputs"])]
        params = [(n, z[f"p{i}"]) for i, n in enumerate(meta["param_names"])]
        names = (meta.get("resume") or {}).get("param_names")
        meta["_resumed"] = None if names is None else \
            [(n, z[f"r{i}"]) for i, n in enumerate(names)]
    return meta, outputs, params


def read_loaded(npz: Path, result: dict):
    with np.load(npz) as z:
        outputs = None if result.get("n_outputs") is None else \
            [z[f"y{i}"] for i in range(result["n_outputs"])]
        names = result.get("param_names")
        params = None if names is None else [(n, z[f"p{i}"]) for i, n in enumerate(names)]
    return outputs, params


def read_resumed(npz: Path, result: dict) -> list[tuple[str, np.ndarray]] | None:
    names = result.get("resume_param_names")
    if names is None:
        return None
    with np.load(npz) as z:
        return [(n, z[f"r{i}"]) for i, n in enumerate(names)]


# State beyond weights that only a loader holding the model can show (zoo: `<layer>/vocabulary`).
STATE_SUFFIXES = ("/vocabulary",)


def resume_fields(meta: dict, result: dict, npz: Path) -> tuple[dict, str | None]:
    """`resume_ok` (None where the loader gives back no model with an optimizer, or the save
    side has no resume reference) and the problem, if training cannot resume as it would have."""
    ref = meta.get("_resumed")
    info = result.get("resume") or {}
    if ref is None or not info or info.get("skipped"):
        return {"resume_ok": None}, None
    saved_iter = (meta.get("resume") or {}).get("iterations")
    lost = saved_iter is not None and info.get("iterations_loaded") is not None \
        and info["iterations_loaded"] != saved_iter
    lost_note = (f"the loaded model lost its optimizer state ({info.get('optimizer')} "
                 f"iterations {info['iterations_loaded']} after loading, the save side had "
                 f"{saved_iter})") if lost else None
    if info.get("error"):
        return {"resume_ok": False}, f"resume: training cannot resume after loading " \
                                     f"({info['error']})" + (f"; {lost_note}" if lost else "")
    got = read_resumed(npz, result)
    if got is None:
        return {"resume_ok": None}, None
    rep = compare_resumed(ref, got, meta.get("scope"))
    fields = {"resume_ok": rep.ok and not lost}
    if rep.max_abs_diff is not None:
        fields["resume_max_abs_diff"] = rep.max_abs_diff  # moved into notes by judge()
    if lost:
        return fields, f"resume: {lost_note}; one training step then gives " \
                       f"{rep.problem or 'the same weights'}"
    if not rep.ok:
        return fields, f"resume: one training step after loading differs from the save " \
                       f"side's: {rep.problem}"
    return fields, None


def map_checkpoint_keys(params, key_map: dict[str, str]) -> tuple[list, int]:
    """Rename checkpoint keys to the parameter names the producer matched them to; drop keys
    that hold no model parameter (optimizer slots, counters)."""
    kept = [(key_map[k], v) for k, v in params if k in key_map]
    return kept, len(params) - len(kept)


def judge(result: dict, npz: Path, ref_dir: Path, manifest: dict,
          tolerance_for_dtype: Callable[[str], tuple[float, float] | None] | None = None) -> dict:
    """Fields of a loaded cell's row: status, parameter counts, prediction metrics.

    `tolerance_for_dtype` (a matrix spec's table, or a fixture's own tolerance) is asked with the
    dtype of the reference's first output, read here once with the rest."""
    meta, ref_outputs, ref_params = read_reference(ref_dir)
    tolerance = None
    if tolerance_for_dtype is not None and ref_outputs:
        tolerance = tolerance_for_dtype(str(ref_outputs[0].dtype))
    outputs, params = read_loaded(npz, result)
    fields: dict = {"notes": dict(result.get("notes") or {})}
    fmt = manifest.get("format")
    if manifest.get("quantized") and fmt != "tflite-dynamic":
        fmt = "quantized"  # e.g. the qat model converted to TFLite or ONNX
    floor = None
    if tolerance is None and fmt in FORMAT_TOLERANCES:
        floor, why = FORMAT_TOLERANCES[fmt]  # loosens the per-dtype tolerance, never tightens it
        fields["notes"]["tolerance"] = (f"at least rtol={floor[0]:g}, atol={floor[1]:g}: {why}")
    if params is not None and result.get("loader") == "tf.train.load_checkpoint":
        params, dropped = map_checkpoint_keys(params, manifest.get("checkpoint_keys", {}))
        fields["notes"]["non_parameter_keys"] = dropped
    if params is not None and meta.get("model") == "qat":
        # tfmot's training-step counters: not parameters (the save side leaves them out too)
        # (named `optimizer_step`, or by position only in a saving_lib file: integer scalars)
        kept = [(n, v) for n, v in params
                if not n.split(":")[0].endswith("optimizer_step")
                and not (v.dtype.kind in "iu" and v.ndim == 0)]
        if len(kept) != len(params):
            fields["notes"]["tfmot_counters_dropped"] = len(params) - len(kept)
        params = kept
    if params is not None and not result.get("state_exposed"):
        marked = set(meta.get("state_params") or [])
        have = normalized(params, meta["scope"])
        have_values = {(v.dtype.str, v.shape, v.tobytes()) for v in have.values()}
        state = [n for n, v in ref_params if (n.endswith(STATE_SUFFIXES) or n in marked)
                 and normalize_name(n, meta["scope"]) not in have
                 and (v.dtype.str, v.shape, v.tobytes()) not in have_values]
        if state:  # a signature or a file reader cannot show a vocabulary: outputs must do
            ref_params = [(n, v) for n, v in ref_params if n not in state]
            fields["notes"]["state_not_compared"] = (
                f"{', '.join(state)}: not exposed by this loader (compared through the "
                "predictions only)")
    if params and not ref_params:  # a reference given, or from a loader that lists none
        fields["notes"]["params_not_compared"] = (
            f"{len(params)} parameter(s) exposed, none in the reference: nothing to compare "
            "them with (compared through the predictions only)")
        params = None
    problems, differs = [], []
    if params is not None:
        rep = compare_params(normalized(ref_params, meta["scope"]),
                             normalized(params, meta["scope"]))
        fields |= rep.fields()
        if rep.by_value:
            fields["notes"]["params_paired_by_value"] = (
                f"{rep.by_value} parameter(s) had other names after loading and were paired "
                "with the bit-identical reference value")
        if not rep.ok:
            problems.append(f"parameters: {rep.equal}/{rep.total} bit-identical"
                            + (f", {rep.extra} extra" if rep.extra else ""))
            differs.append("parameters")
    if outputs is not None:
        pred = compare_predictions(outputs, ref_outputs, tolerance, floor)
        fields |= {"max_abs_diff": pred.max_abs_diff, "max_rel_diff": pred.max_rel_diff,
                   "max_ulp": pred.max_ulp, "rtol": pred.rtol, "atol": pred.atol}
        if not pred.within:
            problems.append(f"predictions: {pred.problem}")
            if ref_outputs:  # the size of a difference is said against its dtype's tolerance
                fields["notes"]["output_dtype"] = str(ref_outputs[0].dtype)
            differs.append("predictions")
            more, why_not = layer_fields(meta, ref_dir, result, npz, outputs, ref_outputs,
                                         pred.rtol, pred.atol, tolerance, floor)
            fields |= more
            if why_not:
                fields["notes"]["layers_not_compared"] = why_not
    if params is None and outputs is None:
        problems.append("the loader gave neither predictions nor parameters")
        differs += ["parameters", "predictions"]
    resume, problem = resume_fields(meta, result, npz)
    if "resume_max_abs_diff" in resume:
        fields["notes"]["resume_max_abs_diff"] = resume.pop("resume_max_abs_diff")
    fields |= resume
    if problem:
        problems.append(problem)
        differs.append("training")
    fields["status"] = Status.MISMATCH if problems else Status.PASS
    # what differs, by kind (verdict.py ranks them): a training-only mismatch loads and predicts
    # the same, and is never called silently wrong
    fields["differs"] = differs if problems else None
    if problems:
        fields["error"] = "; ".join(problems)
    return fields
