"""The content-addressed save cache, and devices as an axis: a second run makes no save at all
and reads byte-identical artifacts; an address changes with what can change the bytes; a
load on cpu-noonednn runs for real, a load on gpu is `unsupported` with the reason here."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from harness.matrix import Matrix
from harness.runner import Run, RunOptions, gpu_absent_reason
from harness.save_cache import SaveCache, worker_code_hash
from harness.specs import EnvSpec


class _Env:
    """The three things the cache reads from an environment."""

    def __init__(self, info: dict, device: str = "cpu"):
        self.info = info
        self.spec = EnvSpec.parse("2.16", device=device)

    def identity(self):
        return {"backend": "uv", "key": "any"}

    def worker_env(self):
        return {"TF_ENABLE_ONEDNN_OPTS": "0"} if self.spec.device == "cpu-noonednn" else {}


def test_address_follows_resolved_versions_device_and_worker_code(tmp_path):
    cache = SaveCache(tmp_path)
    base = {"tf": "2.16.2", "keras": "3.15.1", "numpy": "1.26.4", "executable": "/a/python"}
    a = cache.address(_Env(base))
    assert a == cache.address(_Env(base | {"executable": "/elsewhere/python"}))
    assert a != cache.address(_Env(base | {"keras": "3.3.3"}))
    assert a != cache.address(_Env(base | {"numpy": "2.0.0"}))
    assert a != cache.address(_Env(base, device="cpu-noonednn"))
    assert len(worker_code_hash()) == 64
    worker_code_hash.cache_clear()
    assert worker_code_hash() == worker_code_hash()


def test_incomplete_entries_are_not_hits(tmp_path):
    entry = SaveCache(tmp_path).entry(_Env({"tf": "2.16.2"}))
    entry.prepare("mlp", "h5")
    assert entry.get("mlp", "h5") is None
    killed = {"status": "crash", "error": "worker died (signal SIGKILL) on this cell"}
    assert entry.put("mlp", "h5", killed) is False  # maybe the machine's doing: retried
    assert entry.put("mlp", "h5", {"status": "timeout"}) is False
    assert entry.get("mlp", "h5") is None
    aborted = {"status": "crash", "error": "worker died (signal SIGABRT) on this cell"}
    assert entry.put("mlp", "tflite", aborted)  # TF aborts again on the same inputs
    assert entry.get("mlp", "tflite") == aborted
    assert entry.get("mlp", "h5") is None
    assert entry.put("mlp", "h5", {"status": "ok", "log": "/x"})
    assert entry.get("mlp", "h5") is None  # an ok save without its reference is no hit
    (entry.reference_dir("mlp") / "reference.json").write_text("{}")
    assert entry.get("mlp", "h5") == {"status": "ok"}


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.tf
def test_second_run_saves_nothing_and_devices_are_cells(tmp_path, cache_dir, uv_available):
    saves = tmp_path / "saves"
    first = Matrix(save=["2.16"], load=["2.16"], models=["mlp"], formats=["h5", "savedmodel"],
                   load_devices=["cpu", "cpu-noonednn", "gpu"])
    run_a = Run(RunOptions(matrix=first, results_dir=tmp_path, run_id="a", cache_dir=cache_dir,
                           save_cache_dir=saves))
    a = run_a.execute()
    assert run_a.cache_hits == 0 and list(a.path.glob("work/save-*"))
    rows_a = a.rows()
    assert len(rows_a) == len(first.cells())

    gpu = [r for r in rows_a if r["load_device"] == "gpu"]
    noonednn = [r for r in rows_a if r["load_device"] == "cpu-noonednn"]
    assert gpu and noonednn
    reason = gpu_absent_reason()
    if reason is None:
        pytest.skip("this host has a GPU: the no-GPU path cannot be seen here")
    assert {r["status"] for r in gpu} == {"unsupported"}
    assert all(r["error"] == reason for r in gpu)
    assert not [e for e in run_a.envs.values() if e.spec.device == "gpu" and e.info]
    by_loader = {(r["format"], r["loader"]): r for r in noonednn}
    assert by_loader[("savedmodel", "tf.saved_model.load")]["status"] == "pass"
    assert by_loader[("h5", "keras.models.load_model")]["status"] == "pass"
    assert {r["load_env"]["key"] for r in noonednn} != {r["load_env"]["key"] for r in rows_a
                                                        if r["load_device"] == "cpu"}

    second = Matrix(save=["2.16"], load=["2.16"], models=["mlp"], formats=["h5", "savedmodel"])
    run_b = Run(RunOptions(matrix=second, results_dir=tmp_path, run_id="b",
                           cache_dir=cache_dir, save_cache_dir=saves))
    b = run_b.execute()
    assert run_b.cache_hits == 2
    assert not list(b.path.glob("work/save-*"))  # no save worker was started
    a_files = sorted(p for p in a.path.glob("artifacts/**/*") if p.is_file())
    b_files = sorted(p for p in b.path.glob("artifacts/**/*") if p.is_file())
    assert [p.relative_to(a.path) for p in a_files] == [p.relative_to(b.path) for p in b_files]
    assert [sha(p) for p in a_files] == [sha(p) for p in b_files]
    status_a = {(r["format"], r["loader"]): r["status"] for r in rows_a
                if r["load_device"] == "cpu"}
    assert status_a == {(r["format"], r["loader"]): r["status"] for r in b.rows()}

    # The cached artifacts are the only copy the second run had: removing them after the
    # run does not change its folder (hard links, or copies across file systems).
    shutil.rmtree(saves)
    assert all(p.exists() for p in b_files)
