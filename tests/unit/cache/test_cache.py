"""The content-addressed save cache, and devices as an axis: a second run makes no save at all
and reads byte-identical artifacts; an address changes with what can change the bytes; a
load on cpu-noonednn runs for real, a load on gpu is `unsupported` with the reason here."""

from __future__ import annotations

from harness.cache.saves import SaveCache, worker_code_hash
from harness.plan.specs import EnvSpec


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
    assert not entry.put("mlp", "h5", {"status": "ok", "log": "/x"})  # no files: not kept
    assert entry.get("mlp", "h5") is None
    assert entry.rejected == []  # nothing was there to reject


