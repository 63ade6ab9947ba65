"""The real-TF half of tests/unit/cache/test_cache_verify.py
(its docstring says what both guard)."""

from __future__ import annotations

import hashlib

from harness.plan.matrix import Matrix
from harness.run.runner import Run, RunOptions

# --- real saves: a tampered cache entry is saved again, never used ---------------------------


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
    assert [r["status"] for r in rows] == ["pass"] and first.tally.save_hits == 0
    (h5,) = saves.glob("*/mlp/h5/model.h5")
    original = h5.read_bytes()

    # an artifact rewritten: with a byte flipped in its weights it would still load
    h5.write_bytes(original[:-64] + bytes(64))
    second, rows = run("b")
    assert [r["status"] for r in rows] == ["pass"] and second.tally.save_hits == 0
    assert list(saves.glob("*/.rejected/mlp-h5-*/h5/model.h5"))
    assert sha(h5.read_bytes()) != sha(original[:-64] + bytes(64))

    # the reference deleted: not a load-error blamed on the loader, a new save
    (ref,) = saves.glob("*/mlp/reference.npz")
    ref.unlink()
    third, rows = run("c")
    assert [r["status"] for r in rows] == ["pass"] and third.tally.save_hits == 0
    assert list(saves.glob("*/.rejected/mlp-reference-*/mlp/h5"))

    fourth, rows = run("d")  # and the fresh entry is a hit again
    assert [r["status"] for r in rows] == ["pass"] and fourth.tally.save_hits == 1


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
