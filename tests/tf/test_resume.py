"""A real run interrupted with Ctrl-C (SIGINT to the `harness run` process) mid-LOAD phase,
then finished with `--resume`: only the missing cells run, finished rows stay as they were,
no cell is recorded as a crash of our own kill, and no worker is left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.plan.cells import Cell
from harness.results.store import read_rows
from harness.vocab import FORMAT_LOADERS

pytestmark = pytest.mark.tf

ARGS = ["--save", "2.12", "--load", "2.12,2.16", "--models", "mlp",
        "--formats", "h5,tf-checkpoint,savedmodel", "-j", "1", "--quiet", "--fresh"]
KEY = tuple(Cell.__dataclass_fields__)


def default_sigint() -> None:
    """In the child: SIGINT as a terminal gives it.  A suite started in the background by a
    non-interactive shell inherits SIGINT ignored, and Python then installs no Ctrl-C handler:
    the interrupt tests would test the launcher, not the harness."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def harness(*args: str, cache_dir: Path, **kw) -> subprocess.Popen:
    env = dict(os.environ, HARNESS_CACHE=str(cache_dir))
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint, **kw)


def processes_using(path: Path) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(path).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_interrupted_run_resumes_only_missing_cells(tmp_path, cache_dir, uv_available):
    run_dir = tmp_path / "r"
    proc = harness("run", *ARGS, "--results-dir", str(tmp_path), "--run-id", "r",
                   cache_dir=cache_dir)
    cells = run_dir / "cells.jsonl"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if cells.exists() and len(read_rows(cells)) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, f"the run ended before it could be interrupted: " \
                                f"{proc.communicate()[1][-2000:]}"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert f"harness run --resume {run_dir}" in err
    time.sleep(1)
    assert processes_using(run_dir) == []  # every worker of the run was killed

    first = read_rows(cells)
    info = json.loads((run_dir / "run.json").read_text())
    planned = info["matrix"]["cells"]
    assert planned == 2 * sum(len(FORMAT_LOADERS[f]) for f in ("h5", "tf-checkpoint",
                                                                "savedmodel"))
    assert 2 <= len(first) < planned
    assert all(r["status"] != "crash" for r in first)
    # The host killed while writing a row: a cut line must not spoil the rows after it.
    with open(cells, "a") as f:
        f.write('{"save_tf": "2.1')

    again = harness("run", "--resume", str(run_dir), cache_dir=cache_dir)
    out, err = again.communicate(timeout=900)
    assert again.returncode == 0, err[-2000:]
    assert f"{len(first)} of {planned} cells already done, {planned - len(first)} to go" in err
    rows = read_rows(cells)
    assert len(rows) == planned
    assert len({tuple(r[k] for k in KEY) for r in rows}) == planned
    assert rows[:len(first)] == first  # finished cells untouched
    assert {r["status"] for r in rows} <= {"pass", "load-error", "mismatch", "unsupported"}
    info = json.loads((run_dir / "run.json").read_text())
    assert len(info["resumed"]) == 1 and info["finished"]

    done = harness("run", "--resume", str(run_dir), cache_dir=cache_dir)
    _, err = done.communicate(timeout=120)
    assert done.returncode == 0 and "nothing to do" in err
    assert len(read_rows(cells)) == planned
