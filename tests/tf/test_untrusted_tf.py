"""The real-TF half of tests/unit/worker/test_untrusted.py (its docstring says what both guard)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from harness.run import batch as execute

# --- real TF ----------------------------------------------------------------------------------

LAMBDA_H5 = """
import sys, tensorflow as tf
m = tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(3,)),
                         tf.keras.layers.Lambda(lambda x: x * 2.0, name="doubler")])
m.save(sys.argv[1])
"""


def env_212(cache_dir):
    from harness.envs.uv import UvEnvironment
    from harness.plan.specs import EnvSpec

    env = UvEnvironment(EnvSpec.parse("2.12"), cache_dir)
    env.create()
    return env


def load_requests(tmp_path, art, unsafe_too=True):
    ref = tmp_path / "ref"
    ref.mkdir()
    import numpy as np

    np.savez(ref / "reference.npz", inputs=np.ones((2, 3), np.float32))
    (ref / "reference.json").write_text(json.dumps({"param_names": []}))
    (art / "manifest.json").write_text("{}")
    base = {"format": "h5", "loader": "keras.models.load_model", "model": "mlp",
            "artifact_dir": str(art), "reference_dir": str(ref)}
    return [base | {"id": "l0"}, base | {"id": "l1", "unsafe": True}]


def test_a_lambda_h5_is_refused_under_keras_212_unless_unsafe(tmp_path, cache_dir, uv_available):
    env = env_212(cache_dir)
    art = tmp_path / "art"
    art.mkdir()
    script = tmp_path / "make.py"
    script.write_text(LAMBDA_H5)
    subprocess.run([str(env.interpreter), str(script), str(art / "model.h5")], check=True,
                   capture_output=True)
    results = {}
    execute.run_batch(env, "load", load_requests(tmp_path, art), tmp_path / "work",
                      on_result=lambda req, res: results.__setitem__(req["id"], res))
    refused, unsafe = results["l0"], results["l1"]
    assert refused["status"] == "load-error", refused
    assert refused["error_type"].endswith("UnsafeArtifact")
    assert "Lambda layer ('doubler')" in refused["error"]
    assert "safe_mode is not available in Keras 2.12.0 for h5" in refused["error"]
    assert "--unsafe" in refused["error"]
    assert unsafe["status"] == "ok", unsafe
    assert unsafe["notes"]["safe_mode"] == "off (--unsafe)"


def test_plain_h5_loads_with_a_note_that_safe_mode_is_missing(tmp_path, cache_dir, uv_available):
    env = env_212(cache_dir)
    art = tmp_path / "art"
    art.mkdir()
    script = tmp_path / "make.py"
    script.write_text("import sys, tensorflow as tf\n"
                      "tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(3,))])"
                      ".save(sys.argv[1])\n")
    subprocess.run([str(env.interpreter), str(script), str(art / "model.h5")], check=True,
                   capture_output=True)
    results = {}
    execute.run_batch(env, "load", load_requests(tmp_path, art)[:1], tmp_path / "work",
                      on_result=lambda req, res: results.__setitem__(req["id"], res))
    assert results["l0"]["status"] == "ok", results["l0"]
    assert results["l0"]["notes"]["safe_mode"] == (
        "not available in Keras 2.12.0 for h5 (config checked: no Lambda layer)")


def test_worker_memory_limit_and_host_watchdog(tmp_path, cache_dir, uv_available):
    """The batch's memory_limit_mb becomes the worker's RLIMIT_DATA; a worker whose host was
    killed with SIGKILL exits by itself within a few seconds."""
    env = env_212(cache_dir)
    out = tmp_path / "out"
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({
        "phase": "save", "out_dir": str(out), "memory_limit_mb": 3000,
        "requests": [{"id": "s0", "model": "mlp", "format": "savedmodel",
                      "artifact_dir": str(tmp_path / "a"), "reference_dir": str(tmp_path / "r"),
                      "test_hook": "hang"}]}))
    # A stand-in host: starts the worker as the harness does, tells us its pid, then waits.
    host = subprocess.Popen(
        [sys.executable, "-c", HOST, str(env.interpreter), str(batch), str(tmp_path / "pid")],
        start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # a TF import on a busy machine
        while not (out / "s0.start").exists():
            assert time.monotonic() < deadline, (tmp_path / "pid.log").read_text()[-2000:]
            assert host.poll() is None
            time.sleep(0.2)
        worker = int((tmp_path / "pid").read_text())
        versions = json.loads((out / "versions.json").read_text())
        assert versions["memory_limit"] == "RLIMIT_DATA 3000 MiB"
        limits = open(f"/proc/{worker}/limits").read()
        assert f"{3000 << 20}" in next(x for x in limits.splitlines() if "data size" in x)
        os.kill(host.pid, signal.SIGKILL)
        host.wait()
        deadline = time.monotonic() + 10
        while alive(worker):
            assert time.monotonic() < deadline, "the worker outlived its host"
            time.sleep(0.2)
    finally:
        if host.poll() is None:
            os.kill(host.pid, signal.SIGKILL)
        pid_file = tmp_path / "pid"
        if pid_file.exists() and alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


HOST = """
import json, os, subprocess, sys, time
python, batch, pid_file = sys.argv[1:]
data = json.loads(open(batch).read())
data["host_pid"] = os.getpid()
open(batch, "w").write(json.dumps(data))
from pathlib import Path
main = Path(%r)
env = dict(os.environ, HARNESS_WORKER_TEST_HOOKS="1")
log = open(pid_file + ".log", "wb")
p = subprocess.Popen([python, "-I", str(main), batch], env=env, start_new_session=True,
                     stdout=log, stderr=log)
open(pid_file, "w").write(str(p.pid))
time.sleep(3600)
"""


def _worker_main() -> str:
    from harness.envs.base import WORKER_MAIN

    return str(WORKER_MAIN)


HOST = HOST % _worker_main()


def alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


