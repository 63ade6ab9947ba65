"""The real-TF half of tests/unit/cache/test_cache.py (its docstring says what both guard)."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from harness.envs.base import gpu_absent_reason
from harness.plan.matrix import Matrix
from harness.run.runner import Run, RunOptions


def tree(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and p.name != ".lock"}


def test_saves_once_then_only_loads_and_devices_are_cells(tmp_path, cache_dir, uv_available):
    saves = tmp_path / "saves"
    matrix = Matrix(save=["2.16"], load=["2.16"], models=["mlp"], formats=["h5", "savedmodel"],
                    load_devices=["cpu", "cpu-noonednn", "gpu"])

    def run(run_id, **kw):
        r = Run(RunOptions(load_cache=False, matrix=matrix, results_dir=tmp_path, run_id=run_id,
                           cache_dir=cache_dir, save_cache_dir=saves, **kw))
        return r, r.execute()

    run_s, s = run("s", save_only=True)  # fills the cache, loads nothing
    assert run_s.tally.save_hits == 0 and list(s.path.glob("work/save-*"))
    assert s.rows() == [] and not list(s.path.glob("work/load-*"))

    run_a, a = run("a")
    assert run_a.tally.save_hits == 2
    assert not list(a.path.glob("work/save-*"))  # no save worker was started
    rows = a.rows()
    assert len(rows) == len(matrix.cells())
    (cached,) = saves.glob("*/mlp")
    (placed,) = a.path.glob("artifacts/*/mlp")
    assert tree(placed) == {k: v for k, v in tree(cached).items()
                            if not k.endswith(".result.json")}  # byte-identical, every file
    assert {"h5/model.h5", "h5/manifest.json", "reference.npz"} <= set(tree(placed))

    gpu = [r for r in rows if r["load_device"] == "gpu"]
    noonednn = [r for r in rows if r["load_device"] == "cpu-noonednn"]
    cpu = [r for r in rows if r["load_device"] == "cpu"]
    assert gpu and noonednn and cpu
    by_loader = {(r["format"], r["loader"]): r for r in noonednn}
    assert by_loader[("savedmodel", "tf.saved_model.load")]["status"] == "pass"
    # (the compiling loader would fail the resume check: Keras 3's own .h5 cannot train)
    assert by_loader[("h5", "keras.models.load_model[compile=False]")]["status"] == "pass"
    assert {r["load_env"]["key"] for r in noonednn}.isdisjoint(r["load_env"]["key"] for r in cpu)

    # The run folder keeps its artifacts when the cache is cleared (links or copies).
    shutil.rmtree(saves)
    assert tree(placed) and all(p.exists() for p in placed.rglob("*"))

    reason = gpu_absent_reason()
    if reason is None:
        pytest.skip("this host has a GPU: the no-GPU path cannot be seen here")
    assert {r["status"] for r in gpu} == {"unsupported"}
    assert all(r["error"] == reason for r in gpu)
    assert not [e for e in run_a.envs.values() if e.spec.device == "gpu" and e.info]
