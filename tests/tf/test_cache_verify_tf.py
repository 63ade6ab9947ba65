"""The save cache trusts nothing on disk (issue 11): every file of an entry is checked against
the sha256 recorded when it was written; a bad entry is moved aside, named in one line, and
saved again, never used."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from harness.cache.saves import SaveCache
from harness.plan.matrix import Matrix
from harness.plan.specs import EnvSpec
from harness.run.runner import Run, RunOptions


class _Env:
    info = {"tf": "2.12.1", "keras": "2.12.0"}
    spec = EnvSpec.parse("2.12")

    def identity(self):
        return {"backend": "uv", "key": "any"}

    def worker_env(self):
        return {}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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




















# --- real saves: a tampered cache entry is saved again, never used ---------------------------

def tree_of(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha(p.read_bytes()) for p in root.rglob("*") if p.is_file()}


def test_a_tampered_cache_entry_is_saved_again(tmp_path, cache_dir, uv_available):
    saves = tmp_path / "saves"
    matrix = Matrix(save=["2.12"], load=["2.12"], models=["mlp"], formats=["h5"],
                    loaders=["keras.models.load_model"])

    def run(run_id):
        r = Run(RunOptions(load_cache=False, matrix=matrix, results_dir=tmp_path, run_id=run_id,
                           cache_dir=cache_dir, save_cache_dir=saves))
        out = r.execute()
        return r, out.rows()

    first, rows = run("a")
    assert [r["status"] for r in rows] == ["pass"] and first.cache_hits == 0
    (h5,) = saves.glob("*/mlp/h5/model.h5")
    original = h5.read_bytes()

    # an artifact rewritten: with a byte flipped in its weights it would still load
    h5.write_bytes(original[:-64] + bytes(64))
    second, rows = run("b")
    assert [r["status"] for r in rows] == ["pass"] and second.cache_hits == 0
    assert list(saves.glob("*/.rejected/mlp-h5-*/h5/model.h5"))
    assert sha(h5.read_bytes()) != sha(original[:-64] + bytes(64))

    # the reference deleted: not a load-error blamed on the loader, a new save
    (ref,) = saves.glob("*/mlp/reference.npz")
    ref.unlink()
    third, rows = run("c")
    assert [r["status"] for r in rows] == ["pass"] and third.cache_hits == 0
    assert list(saves.glob("*/.rejected/mlp-reference-*/mlp/h5"))

    fourth, rows = run("d")  # and the fresh entry is a hit again
    assert [r["status"] for r in rows] == ["pass"] and fourth.cache_hits == 1
