"""The save cache trusts nothing on disk (issue 11): every file of an entry is checked against
the sha256 recorded when it was written; a bad entry is moved aside, named in one line, and
saved again, never used."""

from __future__ import annotations

import hashlib
import json

import pytest

from harness.cache.saves import SaveCache
from harness.digests import ManifestError, read_manifest, verify_files
from harness.plan.specs import EnvSpec


class _Env:
    info = {"tf": "2.12.1", "keras": "2.12.0"}
    spec = EnvSpec.parse("2.12")

    def identity(self):
        return {"backend": "uv", "key": "any"}

    def worker_env(self):
        return {}


def saved_entry(tmp_path, formats=("h5", "savedmodel")):
    """An entry as a save worker leaves it: reference, artifacts with their manifests."""
    entry = SaveCache(tmp_path / "saves").entry(_Env())
    ref = entry.reference_dir("mlp")
    ref.mkdir(parents=True)
    (ref / "reference.json").write_text('{"param_names": []}')
    (ref / "reference.npz").write_bytes(b"npz bytes")
    for fmt in formats:
        entry.prepare("mlp", fmt)
        art = entry.artifact_dir("mlp", fmt)
        (art / "sub").mkdir(parents=True)
        files = {"model.bin": b"weights " + fmt.encode(), "sub/vars": b"variables"}
        for name, data in files.items():
            (art / name).write_bytes(data)
        manifest = {"format": fmt, "files": {n: {"sha256": sha(d), "bytes": len(d)}
                                             for n, d in files.items()}}
        (art / "manifest.json").write_text(json.dumps(manifest))
        assert entry.put("mlp", fmt, {"status": "ok", "log": "x", "id": "s0"})
    return entry


def test_an_intact_entry_is_a_hit(tmp_path):
    entry = saved_entry(tmp_path)
    hit = entry.get("mlp", "h5")
    assert hit["status"] == "ok" and set(hit["digests"]) == {"manifest.json", "reference"}
    assert entry.rejected == []


@pytest.mark.parametrize("damage, named", [
    (lambda a, r: (a / "model.bin").write_bytes(b"rewritten by another keras"),
     "mlp/h5/model.bin: changed"),
    (lambda a, r: (a / "sub" / "vars").unlink(), "mlp/h5/sub/vars: missing"),
    (lambda a, r: (a / "extra.py").write_text("import os"), "mlp/h5/extra.py: not listed"),
    (lambda a, r: (a / "manifest.json").write_text("{"), "mlp/h5/manifest.json: not JSON"),
    (lambda a, r: (a / "manifest.json").unlink(), "mlp/h5/manifest.json: missing"),
])
def test_a_bad_artifact_is_moved_aside_and_not_used(tmp_path, damage, named):
    entry = saved_entry(tmp_path)
    art = entry.artifact_dir("mlp", "h5")
    damage(art, entry.reference_dir("mlp"))
    assert entry.get("mlp", "h5") is None
    (line,) = entry.rejected
    assert named in line and "\n" not in line and "saved again" in line
    assert not art.exists()
    (moved,) = (entry.path / ".rejected").iterdir()
    assert moved.name.startswith("mlp-h5-") and (moved / "h5").is_dir()
    assert (moved / "h5.result.json").is_file()
    assert entry.get("mlp", "savedmodel")["status"] == "ok"  # the other format is intact
    entry.prepare("mlp", "h5")  # what the runner does next: a clean save
    assert entry.get("mlp", "h5") is None and len(entry.rejected) == 1


@pytest.mark.parametrize("name", ["reference.npz", "reference.json"])
def test_a_bad_reference_takes_every_format_of_the_model(tmp_path, name):
    entry = saved_entry(tmp_path)
    (entry.reference_dir("mlp") / name).unlink()
    assert entry.get("mlp", "h5") is None
    assert entry.get("mlp", "savedmodel") is None  # gone with the model folder
    (line,) = entry.rejected
    assert f"mlp/{name}: missing" in line and "every format of mlp" in line
    (moved,) = (entry.path / ".rejected").iterdir()
    assert (moved / "mlp" / "savedmodel").is_dir()


def test_a_changed_reference_is_rejected(tmp_path):
    entry = saved_entry(tmp_path, formats=("h5",))
    (entry.reference_dir("mlp") / "reference.npz").write_bytes(b"other bytes")
    assert entry.get("mlp", "h5") is None
    assert "mlp/reference.npz: changed" in entry.rejected[0]


def test_garbage_result_files_are_rejected(tmp_path):
    entry = saved_entry(tmp_path, formats=("h5",))
    entry._result_file("mlp", "h5").write_text("[1, 2]")
    assert entry.get("mlp", "h5") is None
    assert "h5.result.json: not a JSON object" in entry.rejected[0]


def test_an_entry_without_digests_is_not_trusted(tmp_path):
    entry = saved_entry(tmp_path, formats=("h5",))
    path = entry._result_file("mlp", "h5")
    path.write_text(json.dumps({"status": "ok"}))  # as a cache from before digests has it
    assert entry.get("mlp", "h5") is None
    assert "no reference digests recorded" in entry.rejected[0]


def test_a_save_whose_files_differ_from_its_manifest_is_not_kept(tmp_path):
    entry = saved_entry(tmp_path, formats=("h5",))
    (entry.artifact_dir("mlp", "h5") / "model.bin").write_bytes(b"x")
    assert not entry.put("mlp", "h5", {"status": "ok"})


def test_verify_files(tmp_path):
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_bytes(b"b")
    good = {"a": sha(b"a"), "d/b": sha(b"b")}
    assert verify_files(tmp_path, good) == []
    assert verify_files(tmp_path, {"a": sha(b"a")}) == ["d/b: not listed"]
    assert verify_files(tmp_path, {"a": sha(b"a")}, allow_extra=True) == []
    assert verify_files(tmp_path, good | {"c": sha(b"c")}) == ["c: missing"]
    assert verify_files(tmp_path, good | {"a": sha(b"z")})[0].startswith("a: changed (sha256 ")
    assert verify_files(tmp_path, good | {"../x": sha(b"z")})[0].startswith("'../x': not a path")
    assert verify_files(tmp_path / "gone", good) == ["a: missing", "d/b: missing"]
    (tmp_path / "fifo").symlink_to(tmp_path / "a")
    assert verify_files(tmp_path, good | {"fifo": sha(b"a")}) == ["fifo: not a regular file"]


@pytest.mark.parametrize("text, msg", [
    ("", "not JSON"), ("[]", "no 'files' table"), ('{"files": 3}', "no 'files' table"),
    ('{"files": {"/etc/passwd": {"sha256": "' + "0" * 64 + '"}}}', "not a path inside"),
    ('{"files": {"a": {"sha256": "xyz"}}}', "'a' has no sha256"),
    ('{"files": {"a": 1}}', "'a' has no sha256"),
])
def test_bad_manifests_are_one_line_errors(tmp_path, text, msg):
    m = tmp_path / "manifest.json"
    m.write_text(text)
    with pytest.raises(ManifestError, match=msg):
        read_manifest(m)


# --- real saves: a tampered cache entry is saved again, never used ---------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
