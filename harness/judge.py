"""From a worker's load result to a cell row: read the arrays, compare, decide the status.
numpy only, so it is tested without TensorFlow."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .compare import compare_params, compare_predictions, normalized
from .vocab import FORMAT_TOLERANCES, Status


def read_reference(ref_dir: Path) -> tuple[dict, list[np.ndarray], list[tuple[str, np.ndarray]]]:
    meta = json.loads((ref_dir / "reference.json").read_text())
    with np.load(ref_dir / "reference.npz") as z:
        outputs = [z[f"y{i}"] for i in range(meta["n_outputs"])]
        params = [(n, z[f"p{i}"]) for i, n in enumerate(meta["param_names"])]
    return meta, outputs, params


def read_loaded(npz: Path, result: dict):
    with np.load(npz) as z:
        outputs = None if result.get("n_outputs") is None else \
            [z[f"y{i}"] for i in range(result["n_outputs"])]
        names = result.get("param_names")
        params = None if names is None else [(n, z[f"p{i}"]) for i, n in enumerate(names)]
    return outputs, params


def map_checkpoint_keys(params, key_map: dict[str, str]) -> tuple[list, int]:
    """Rename checkpoint keys to the parameter names the producer matched them to; drop keys
    that hold no model parameter (optimizer slots, counters)."""
    kept = [(key_map[k], v) for k, v in params if k in key_map]
    return kept, len(params) - len(kept)


def judge(result: dict, npz: Path, ref_dir: Path, manifest: dict,
          tolerance: tuple[float, float] | None = None,
          tolerance_for_dtype: Callable[[str], tuple[float, float] | None] | None = None) -> dict:
    """Fields of a loaded cell's row: status, parameter counts, prediction metrics.

    `tolerance` overrides the defaults outright; `tolerance_for_dtype` (a matrix spec's table)
    is asked with the dtype of the reference's first output, read here once with the rest."""
    meta, ref_outputs, ref_params = read_reference(ref_dir)
    if tolerance is None and tolerance_for_dtype is not None and ref_outputs:
        tolerance = tolerance_for_dtype(str(ref_outputs[0].dtype))
    outputs, params = read_loaded(npz, result)
    fields: dict = {"notes": dict(result.get("notes") or {})}
    fmt = manifest.get("format")
    if manifest.get("quantized") and fmt != "tflite-dynamic":
        fmt = "quantized"  # e.g. the qat model converted to TFLite or ONNX
    if tolerance is None and fmt in FORMAT_TOLERANCES:
        tolerance, why = FORMAT_TOLERANCES[fmt]
        fields["notes"]["tolerance"] = f"rtol={tolerance[0]:g}, atol={tolerance[1]:g}: {why}"
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
    problems = []
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
    if outputs is not None:
        pred = compare_predictions(outputs, ref_outputs, tolerance)
        fields |= {"max_abs_diff": pred.max_abs_diff, "max_rel_diff": pred.max_rel_diff,
                   "max_ulp": pred.max_ulp, "rtol": pred.rtol, "atol": pred.atol}
        if not pred.within:
            problems.append(f"predictions: {pred.problem}")
    if params is None and outputs is None:
        problems.append("the loader gave neither predictions nor parameters")
    fields["status"] = Status.MISMATCH if problems else Status.PASS
    if problems:
        fields["error"] = "; ".join(problems)
    return fields
