"""The core, for real: TF 2.12 and TF 2.16 in two uv environments, artifacts written by one
and read by the other, numbers compared.  The expected statuses below were found by running
(Keras 2.12 vs Keras 3); if an upstream release changes one, this test says which cell."""

from __future__ import annotations

import json

import pytest

from harness.reports.terminal import terminal_table
from harness.run.runner import Run, RunOptions
from harness.vocab import FORMAT_LOADERS

pytestmark = [pytest.mark.tf, pytest.mark.crossversion]

CORE_FORMATS = ("savedmodel", "keras", "h5", "weights-h5", "tf-checkpoint")
DIRECTIONS = [("2.12", "2.12"), ("2.12", "2.16"), ("2.16", "2.12"), ("2.16", "2.16")]
P, M, LE, SE, U = "pass", "mismatch", "load-error", "save-error", "unsupported"
LM = "keras.models.load_model"

# (format, loader) -> statuses for 2.12->2.12, 2.12->2.16, 2.16->2.12, 2.16->2.16
EXPECTED = {
    "mlp": {
        ("savedmodel", "tf.saved_model.load"): [P, P, P, P],
        ("savedmodel", LM): [LE, LE, LE, LE],  # tf.saved_model.save writes no Keras metadata
        ("savedmodel", "keras.layers.TFSMLayer[call_endpoint=serving_default]"): [U, P, U, P],
        ("keras", LM): [P, LE, LE, P],  # 2.12 writes HDF5 named .keras; 2.16's zip is unknown
        ("keras", f"{LM}[compile=False]"): [P, LE, LE, P],
        ("keras", f"{LM}[custom_objects]"): [P, LE, LE, P],
        # compile: loss reduction="auto" is gone in Keras 3; and Keras 3's own .h5, loaded with
        # its compiled optimizer, cannot take a training step ("Unknown variable"): mismatch
        ("h5", LM): [P, LE, LE, M],
        ("h5", f"{LM}[compile=False]"): [P, P, LE, P],  # the documented way around it
        ("h5", f"{LM}[custom_objects]"): [P, LE, LE, M],
        # the user's save_weights("model_weights.h5"): Keras 2's legacy layout loads into
        # Keras 3; Keras 3 refuses to write it ("must end in `.weights.h5`")
        ("weights-h5", "model.load_weights"): [P, P, SE, SE],
        ("tf-checkpoint", "tf.train.Checkpoint.restore"): [P, M, M, P],  # restores nothing
        ("tf-checkpoint", "tf.train.load_checkpoint"): [P, P, P, P],
    },
}
EXPECTED["cnn"] = dict(EXPECTED["mlp"])


@pytest.fixture(scope="module")
def run_rows(tmp_path_factory, cache_dir, uv_available):
    opts = RunOptions(load_cache=False,
                      save=["2.12", "2.16"], load=["2.12", "2.16"], models=["mlp", "cnn"],
                      formats=list(CORE_FORMATS),
                      results_dir=tmp_path_factory.mktemp("results"), cache_dir=cache_dir)
    run = Run(opts).execute()
    return run, run.rows()


def test_every_planned_cell_has_one_row(run_rows):
    _, rows = run_rows
    n_loaders = sum(len(FORMAT_LOADERS[f]) for f in CORE_FORMATS)
    assert len(rows) == 4 * 2 * n_loaders
    keys = {(r["save_tf"], r["load_tf"], r["model"], r["format"], r["loader"]) for r in rows}
    assert len(keys) == len(rows)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_statuses_match_what_the_versions_do(run_rows, model):
    _, rows = run_rows
    got = {(r["format"], r["loader"], r["save_tf"], r["load_tf"]): r for r in rows
           if r["model"] == model}
    wrong = []
    for (fmt, loader), statuses in EXPECTED[model].items():
        for (s, ld), want in zip(DIRECTIONS, statuses, strict=True):
            row = got[(fmt, loader, s, ld)]
            if row["status"] != want:
                wrong.append(f"{s}->{ld} {fmt} {loader}: {row['status']} (expected {want}) "
                             f"{row.get('error_type')}: {str(row.get('error'))[:200]}")
    assert not wrong, "\n".join(wrong)


def test_pass_means_bit_identical_parameters_and_close_predictions(run_rows):
    _, rows = run_rows
    passed = [r for r in rows if r["status"] == "pass"]
    assert len(passed) > 40
    for r in passed:
        assert r["params_equal"] == r["params_total"] > 0, r
        if r["max_abs_diff"] is not None:
            assert r["max_abs_diff"] <= r["atol"] + r["rtol"] * 100, r
            assert r["max_ulp"] is not None


def test_a_silent_checkpoint_restore_names_the_parameters_that_did_not_come_back(run_rows):
    _, rows = run_rows
    r = next(r for r in rows if (r["save_tf"], r["load_tf"], r["model"], r["format"],
                                 r["loader"]) == ("2.12", "2.16", "mlp", "tf-checkpoint",
                                                  "tf.train.Checkpoint.restore"))
    assert r["status"] == "mismatch"
    assert r["params_value"] > 0 and r["params_equal"] < r["params_total"]
    assert any("dense/kernel" in d for d in r["param_diffs"])
    assert r["max_abs_diff"] > 1e-3


def test_versions_and_real_on_disk_format_are_recorded(run_rows):
    run, rows = run_rows
    info = json.loads((run.path / "run.json").read_text())
    resolved = {k: v["resolved"] for k, v in info["environments"].items()}
    assert resolved["2.12"]["tf"].startswith("2.12.") and resolved["2.12"]["keras"][0] == "2"
    assert resolved["2.16"]["tf"].startswith("2.16.") and resolved["2.16"]["keras"][0] == "3"
    for r in rows:
        assert r["save_versions"]["tf"] == resolved[r["save_tf"]]["tf"]
        assert r["load_versions"]["keras"] == resolved[r["load_tf"]]["keras"]
        for key in ("numpy", "h5py", "protobuf", "python"):
            assert r["load_versions"][key]
    keras_files = {r["save_tf"]: r["on_disk_format"] for r in rows if r["format"] == "keras"}
    assert keras_files == {"2.12": "hdf5", "2.16": "zip"}  # TF 2.12 writes HDF5 as .keras


def test_manifest_records_producer_and_hashes(run_rows):
    run, _ = run_rows
    manifests = list(run.path.glob("artifacts/*/mlp/h5/manifest.json"))
    assert len(manifests) == 2
    for m in manifests:
        data = json.loads(m.read_text())
        assert data["producer"]["tf"].startswith(("2.12.", "2.16."))
        (entry,) = data["files"].values()
        assert len(entry["sha256"]) == 64 and entry["kind"] == "hdf5"


def test_table_shows_every_direction(run_rows):
    run, _ = run_rows
    table = terminal_table(run.path)
    for s, ld in DIRECTIONS:
        assert f"{s} -> {ld}" in table
    assert "tf.saved_model.load" in table and "keras 3." in table
