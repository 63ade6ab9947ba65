"""What a save version writes differently from the one before, read from a run's artifacts
(harness/findings/artifact_changes.py): checkpoint keys by parameter, Keras config keys from .keras
zips
and .h5 files.  Synthetic artifacts in the layout a run writes; no TF."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from harness.findings import artifact_changes

ATTR = "/.ATTRIBUTES/VARIABLE_VALUE"


def artifact(run: Path, env: str, model: str, fmt: str, manifest: dict, files: dict) -> None:
    art = run / "artifacts" / env / model / fmt
    art.mkdir(parents=True)
    (art / "manifest.json").write_text(json.dumps({"format": fmt, "model": model} | manifest))
    for name, data in files.items():
        if name.endswith(".keras"):
            with zipfile.ZipFile(art / name, "w") as z:
                z.writestr("config.json", json.dumps(data))
        else:
            (art / name).write_bytes(b"\x89HDF\r\n\x1a\n junk " + json.dumps(data).encode()
                                     + b" more junk")


def make(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    envs = {"2.15": "k15", "2.16": "k16"}
    (run / "run.json").write_text(json.dumps({"environments": {
        label: {"key": key, "label": label} for label, key in envs.items()}}))
    k2 = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4]}}]}}
    k3 = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 4]}}]}}
    artifact(run, "k15", "mlp", "tf-checkpoint", {"checkpoint_keys": {
        f"model/layer_with_weights-0/kernel{ATTR}": "dense/kernel:0"}}, {})
    artifact(run, "k16", "mlp", "tf-checkpoint", {"checkpoint_keys": {
        f"model/layer_with_weights-0/_kernel{ATTR}": "mlp/dense/kernel"}}, {})
    artifact(run, "k15", "mlp", "keras", {}, {"model.keras": k2})
    artifact(run, "k16", "mlp", "keras", {}, {"model.keras": k3})
    artifact(run, "k15", "mlp", "h5", {}, {"model.h5": k2})
    artifact(run, "k16", "mlp", "h5", {}, {"model.h5": k3})
    return run


def test_renamed_keys_and_config_keys_between_save_versions(tmp_path):
    found = {c.fmt: c for c in artifact_changes.changes(make(tmp_path))}
    assert set(found) == {"tf-checkpoint", "keras", "h5"}
    assert dict(found["tf-checkpoint"].renamed) == {"kernel -> _kernel": 1}
    for fmt in ("keras", "h5"):
        assert found[fmt].removed == {"batch_input_shape"}
        assert found[fmt].added == {"batch_shape"}
        assert (found[fmt].old, found[fmt].new) == ("2.15", "2.16")
    md = "\n".join(artifact_changes.markdown(tmp_path / "run"))
    assert "`kernel -> _kernel` (1)" in md and "gone: `batch_input_shape`" in md


def test_unchanged_artifacts_say_nothing(tmp_path):
    run = make(tmp_path)
    for fmt, name in (("keras", "model.keras"), ("h5", "model.h5")):
        old = run / "artifacts" / "k15" / "mlp" / fmt / name
        new = run / "artifacts" / "k16" / "mlp" / fmt / name
        new.write_bytes(old.read_bytes())
    assert {c.fmt for c in artifact_changes.changes(run)} == {"tf-checkpoint"}
    assert artifact_changes.between(run, "2.15", "2.15") == []
