"""The only module that starts subprocesses: environment scrubbing, timeouts, log capture."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

# Variables that would leak the host's Python or TF configuration into an environment.
_SCRUB_PREFIXES = ("PYTHON", "VIRTUAL_ENV", "CONDA", "TF_", "KERAS_", "UV_PROJECT", "PIP_")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES)}
    env |= {"PYTHONHASHSEED": "0", "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env |= dict(extra or {})
    return env


def run(cmd: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a short tool command (uv, a version query), capturing its output as text."""
    return subprocess.run(list(cmd), env=clean_env(env), timeout=timeout, cwd=cwd,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


def start(cmd: Sequence[str], *, env: Mapping[str, str] | None, log: Path) -> subprocess.Popen:
    """Start a long process (a worker) in its own session, output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as f:
        return subprocess.Popen(list(cmd), env=clean_env(env), stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def kill(proc: subprocess.Popen) -> None:
    """Kill a process started with `start` and everything it spawned."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
