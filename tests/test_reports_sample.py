"""A hand-made run folder for the report, check, diff and advise tests (no TF needed), shaped
like what harness.run.runner writes: run.json with environments and cells.jsonl with every column.
The other test modules import `make_run` from here."""

from __future__ import annotations

import json
from pathlib import Path

from harness.plan.cells import KEY_FIELDS
from harness.results.store import COLUMNS, load_frame

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


def test_the_sample_is_a_run_folder(tmp_path):
    run = make_run(tmp_path)
    df = load_frame(run)
    assert len(df) == len(sample_rows()) == 4 * 2 * 6
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS
    assert set(df["status"]) == {"pass", "load-error", "unsupported", "mismatch"}
