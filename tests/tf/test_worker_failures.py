"""A real TF worker that dies or hangs mid-batch: the cell becomes crash/timeout, a fresh
worker finishes the rest, and nothing is left running."""

from __future__ import annotations

import pytest

from harness.envs.uv import UvEnvironment
from harness.plan.specs import EnvSpec
from harness.run import batch as execute

pytestmark = [pytest.mark.tf, pytest.mark.crossversion]


def test_crash_and_timeout_are_contained(tmp_path, cache_dir, uv_available, hooked_saves):
    env = UvEnvironment(EnvSpec.parse("2.12"), cache_dir)
    env.create()
    results = hooked_saves(env, [("savedmodel", None), ("tf-checkpoint", "abort"),
                                 ("tf-checkpoint", None), ("savedmodel", "hang"),
                                 ("keras", None)], cell_timeout=20)
    statuses = {k: v["status"] for k, v in results.items()}
    assert statuses == {"s0": "ok", "s1": "crash", "s2": "ok", "s3": "timeout",
                        "s4": "unsupported"}
    assert "SIGABRT" in results["s1"]["error"]
    assert "20 s" in results["s3"]["error"]
    assert len(list((tmp_path / "work").glob("worker-*.log"))) == 3  # two restarts
    assert not execute._live
