"""Hand-made run folders for the report, check, diff and advise tests (no TF needed), shaped
like what harness.run.runner writes: run.json with environments and cells.jsonl with every
column; and the bigger samples the terminal and HTML tests share."""


from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from harness.plan.cells import KEY_FIELDS
from harness.results.store import COLUMNS
from harness.vocab import FORMAT_LOADERS, FORMATS, MODELS

VERSIONS = {
    "2.12": {"tf": "2.12.1", "keras": "2.12.0", "numpy": "1.24.3", "h5py": "3.16.0",
             "protobuf": "4.25.9", "python": "3.11.7", "tf_keras": None},
    "2.16": {"tf": "2.16.2", "keras": "3.15.1", "numpy": "1.26.4", "h5py": "3.16.0",
             "protobuf": "4.25.9", "python": "3.11.7", "tf_keras": None},
}


SM_ERROR = ("File format not supported: filepath=/tmp/r/artifacts/2.12-cpu-abc/{model}/savedmodel/"
            "savedmodel. Keras 3 only supports V3 `.keras` files.")


def row(save, load, model, fmt, loader, status, **extra) -> dict:
    r = dict.fromkeys(COLUMNS)
    r.update(save_tf=save, load_tf=load, save_device="cpu", load_device="cpu", model=model,
             format=fmt, loader=loader, status=status, save_versions=VERSIONS.get(save),
             load_versions=VERSIONS.get(load))
    if status in ("pass", "mismatch"):
        r.update(params_total=4, params_equal=4 if status == "pass" else 0,
                 max_abs_diff=0.0 if save == load else 6e-8, rtol=1e-6, atol=1e-6)
    r.update(extra)
    return r


def sample_rows() -> list[dict]:
    """2.12/2.16 both ways and the diagonal, two models, three formats, with what the real run
    shows: keras.models.load_model never loads a SavedModel, TFSMLayer is unsupported in Keras 2,
    and tf.train.Checkpoint.restore is silently wrong across Keras 2/3."""
    rows = []
    dirs = [("2.12", "2.12"), ("2.12", "2.16"), ("2.16", "2.12"), ("2.16", "2.16")]
    for save, load in dirs:
        for model in ("mlp", "cnn"):
            rows.append(row(save, load, model, "savedmodel", "tf.saved_model.load", "pass"))
            if load == "2.16":
                rows.append(row(save, load, model, "savedmodel", "keras.models.load_model",
                                "load-error", error_type="ValueError",
                                error=SM_ERROR.format(model=model)))
                rows.append(row(save, load, model, "savedmodel",
                                "keras.layers.TFSMLayer[call_endpoint=serving_default]", "pass"))
            else:
                rows.append(row(save, load, model, "savedmodel", "keras.models.load_model",
                                "load-error", error_type="ValueError",
                                error="Unable to create a Keras model from SavedModel at "
                                      "/x/artifacts/k/mlp/savedmodel/savedmodel. </script> "
                                      "lacks the Keras metadata file."))
                rows.append(row(save, load, model, "savedmodel",
                                "keras.layers.TFSMLayer[call_endpoint=serving_default]",
                                "unsupported", error="keras.layers.TFSMLayer does not exist"))
            cross = save != load
            rows.append(row(save, load, model, "tf-checkpoint", "tf.train.Checkpoint.restore",
                            "mismatch" if cross else "pass",
                            error=("parameters: 0/4 bit-identical; predictions: output 0 beyond "
                                   "rtol=1e-06, atol=1e-06") if cross else None,
                            max_abs_diff=4.1 if cross else 0.0))
            rows.append(row(save, load, model, "tf-checkpoint", "tf.train.load_checkpoint",
                            "pass", max_abs_diff=None))
            h5_ok = not (save == "2.16" and load == "2.12") and not (model == "cnn" and cross)
            rows.append(row(save, load, model, "h5", "keras.models.load_model",
                            "pass" if h5_ok else "load-error",
                            error_type=None if h5_ok else "TypeError",
                            error=None if h5_ok else "Unrecognized keyword arguments: "
                                                     "['batch_shape', 'optional']"))
    return rows


def make_run(tmp_path: Path, name: str = "sample-run", rows: list[dict] | None = None,
             info: dict | None = None) -> Path:
    run = Path(tmp_path) / name
    run.mkdir(parents=True)
    envs = {label: {"key": f"{label}-cpu-0000", "backend": "uv",
                    "requested": {"spec": label, "device": "cpu"}, "resolved": v}
            for label, v in VERSIONS.items()}
    base = {"harness_version": "0.1.0", "run_id": name,
            "matrix": {"save": ["2.12", "2.16"], "load": ["2.12", "2.16"], "models": None,
                       "formats": None, "loaders": None, "as_of": None, "backend": "uv"},
            "environments": envs}
    rows = sample_rows() if rows is None else rows
    # the plan a real run records: here exactly the sample's cells (so the run is complete)
    keys = [[r.get(k) or "cpu" if k.endswith("_device") else r.get(k) for k in KEY_FIELDS]
            for r in rows if isinstance(r, dict)]
    base["matrix"]["cell_keys"] = keys
    (run / "run.json").write_text(json.dumps(base | (info or {})))
    (run / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


KERAS_ERRORS = {
    "savedmodel": "File format not supported: filepath=/tmp/r/artifacts/e/{m}/savedmodel/x.",
    "keras-savedmodel": "File format not supported: filepath=/tmp/r/artifacts/e/{m}/ks/x.",
    "keras": "File not found: filepath=/tmp/r/artifacts/e/{m}/keras/model.keras.",
    "h5": "Invalid value for argument `reduction`. Received: reduction=auto",
    "weights-h5": "A total of 1 objects could not be loaded.",
}


def full_pair_rows() -> list[dict]:
    """2.12 -> 2.16 for every model x format x loader of the vocabulary (7 x 11 x 33 = 231 when
    this was written),
    shaped as the real run: Keras loaders fail per format, checkpoint restores are silently
    wrong, the rest pass."""
    rows = []
    for m in MODELS:
        for fmt in FORMATS:
            for lo in FORMAT_LOADERS[fmt]:
                if fmt == "h5" and lo == "keras.models.load_model[compile=False]":
                    r = row("2.12", "2.16", m, fmt, lo, "pass")  # the workaround that works
                elif lo.startswith(("keras.", "model.load_weights")) and "TFSMLayer[" not in lo:
                    r = row("2.12", "2.16", m, fmt, lo, "load-error", error_type="ValueError",
                            error=KERAS_ERRORS.get(fmt, "boom").format(m=m))
                elif lo.startswith(("tf.train.Checkpoint", "tf.train.CheckpointManager")):
                    r = row("2.12", "2.16", m, fmt, lo, "mismatch",
                            error=f"parameters: 0/{len(m)} bit-identical; predictions: output 0 "
                                  "beyond rtol=1e-06, atol=1e-06")
                else:
                    r = row("2.12", "2.16", m, fmt, lo, "pass")
                rows.append(r)
    return rows


STATUS_CYCLE = ("pass", "pass", "load-error", "pass", "mismatch", "unsupported", "pass",
                "save-error")


def full_size_rows(loads=("2.12", "2.16"), formats=None) -> list[dict]:
    """Every format and loader of the vocabulary with every zoo model, saved under 2.12 and
    loaded under each of `loads`: a run as wide and as long-named as the quick start's (the
    statuses are a fixed pattern, not TF's; the layout is what this is for)."""
    rows = []
    for load in loads:
        for i, (fmt, loaders) in enumerate(FORMAT_LOADERS.items()):
            if formats and fmt not in formats:
                continue
            for j, loader in enumerate(loaders):
                for k, model in enumerate(MODELS):
                    status = "pass" if load == "2.12" else \
                        STATUS_CYCLE[(i + 2 * j + 3 * k) % len(STATUS_CYCLE)]
                    extra = {}
                    if status == "load-error":
                        extra = {"error_type": "ValueError",
                                 "error": f"File format not supported: {fmt} under Keras 3"}
                    rows.append(row("2.12", load, model, fmt, loader, status, **extra))
    return rows


def full_size_run(tmp_path, loads=("2.12", "2.16"), formats=None):
    versions = {v: VERSIONS.get(v, VERSIONS["2.16"]) for v in ("2.12", *loads)}
    envs = {label: {"key": f"{label}-cpu-0000", "backend": "uv",
                    "requested": {"spec": label, "device": "cpu"}, "resolved": v}
            for label, v in versions.items()}
    return make_run(tmp_path, name="20261204-184052-1219", rows=full_size_rows(loads, formats),
                    info={"environments": envs,
                          "command": f"harness run --save 2.12 --load {','.join(loads)}"})


CODE = re.compile(r"`([^`]+)`")


SHELL = re.compile(r"^(pip install \S+|[A-Z_]+=\S+|harness .+)$")


def pasteable(code: str) -> bool:
    if SHELL.match(code):
        return True
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True
