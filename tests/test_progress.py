"""harness.progress: what each mode puts on the screen, progress.log, and the live display on a
real terminal (tmux).  `python tests/test_progress.py MODE RUN_DIR [DELAY]` drives a Progress
through the events of a 2.12 -> 2.16 run of 7 models x 11 formats (77 saves, 231 cells), as the
runner sends them: the tmux test runs it so."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from harness.progress import LiveProgress, Progress, QuietProgress, make_progress

SAVES, CELLS = 77, 231


UNSAVED = 7  # cells whose save failed: the runner writes them before the load phase starts


def fake_row(i: int) -> dict:
    status = ("pass", "load-error", "unsupported", "mismatch")[i % 4]
    if i < UNSAVED:
        status = "save-error"
    return {"save_tf": "2.12", "save_device": "cpu", "load_tf": "2.16", "load_device": "cpu",
            "model": ("mlp", "cnn", "rnn")[i % 3], "format": "h5",
            "loader": "keras.models.load_model", "status": status,
            "error_type": "TypeError" if status == "load-error" else None}


def drive(progress, run_dir: Path, delay: float = 0.0) -> None:
    progress.phase("envs", 2)
    for env in ("2.12", "2.16"):
        progress.env(env, "creating")
        progress.env(env, f"ready: tf {env}.1, keras 2.{env[2:]}.0 (3.1s)")
    progress.run_started(run_dir, CELLS)
    progress.phase("save", SAVES)
    progress.env("2.12", "saving")
    for i in range(SAVES):
        progress.saved("2.12", "mlp", f"fmt{i}", "save-error" if i % 11 == 0 else "ok",
                       "ConverterError" if i % 11 == 0 else None)
        time.sleep(delay / 4)
    progress.env("2.12", "done")
    for i in range(UNSAVED):
        progress.cell(fake_row(i))
    progress.phase("load", CELLS)
    progress.env("2.16", "loading")
    for i in range(UNSAVED, CELLS):
        progress.cell(fake_row(i))
        time.sleep(delay)
    progress.env("2.16", "done")
    progress.message("done: 231/231 cells")
    progress.close()


def screen(mode: str, tmp_path: Path) -> tuple[str, Path]:
    out = io.StringIO()
    run = tmp_path / "run"
    run.mkdir(parents=True)
    drive(make_progress(mode, out), run)
    return out.getvalue(), run


def test_plain_prints_a_line_per_phase_environment_and_tenth_of_the_cells(tmp_path):
    text, run = screen("plain", tmp_path)
    lines = text.splitlines()
    assert all(ln.startswith("[") and "s] " in ln for ln in lines)  # timestamped
    assert not any(ln.split("] ", 1)[1].startswith(("cell ", "save ")) for ln in lines)
    steps = [ln for ln in lines if " cells (" in ln]
    assert len(steps) == 10 and steps[-1].endswith("load: 231/231 cells (100%), 119 failed")
    assert "load: 24/231 cells (10%), 16 failed, ETA" in steps[0]
    assert len([ln for ln in lines if " saves (" in ln]) == 4
    assert sum("env 2.1" in ln for ln in lines) == 2  # where each env ended up, not each step
    assert len(lines) == 3 + 2 + 4 + 10 + 1  # phases, envs, saves, cells, message
    assert len(lines) < 40


def test_every_mode_writes_one_log_line_per_cell(tmp_path):
    for mode in ("plain", "verbose", "quiet"):
        _, run = screen(mode, tmp_path / mode)
        log = (run / "progress.log").read_text().splitlines()
        cells = [ln for ln in log if "] cell " in ln]
        assert len(cells) == CELLS, mode
        assert cells[0].endswith("cell 1/231: 2.12->2.16 mlp/h5 keras.models.load_model: "
                                 "save-error")
        assert cells[8].endswith("cell 9/231: 2.12->2.16 rnn/h5 keras.models.load_model: pass")
        assert cells[9].endswith(": load-error (TypeError)")
        # what happened before the run folder existed is in the log too
        assert "env 2.12: creating" in log[1] and "ENVS phase: 2" in log[0]


def test_verbose_shows_every_cell_and_quiet_only_errors(tmp_path):
    text, _ = screen("verbose", tmp_path / "v")
    assert sum("] cell " in ln for ln in text.splitlines()) == CELLS
    assert sum("] save 2.12: " in ln for ln in text.splitlines()) == SAVES
    text, _ = screen("quiet", tmp_path / "q")
    assert text == ""
    out = io.StringIO()
    quiet = QuietProgress(out)
    quiet.message("nothing to see")
    quiet.error("TF 2.16: cannot install")
    assert out.getvalue().count("\n") == 1 and "error: TF 2.16: cannot install" in out.getvalue()


def test_auto_is_plain_off_a_terminal_and_live_on_one(tmp_path, monkeypatch):
    assert type(make_progress("auto", io.StringIO())) is Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("TERM", "xterm")
    live = make_progress("auto", Tty())
    assert isinstance(live, LiveProgress)
    live.close()
    monkeypatch.setenv("TERM", "dumb")
    assert type(make_progress("auto", Tty())) is Progress
    with pytest.raises(ValueError, match="unknown progress mode"):
        make_progress("loud")


def test_the_eta_comes_from_the_phase_rate(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    p = Progress(io.StringIO())
    p.phase("load", 100)
    assert p.eta() is None
    now[0] += 10
    for i in range(25):
        p.cell(fake_row(i))
    assert p.eta() == pytest.approx(30.0)  # 25 cells in 10 s: 75 more in 30 s


def capture(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                          text=True, check=True).stdout


@pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux for a real terminal")
def test_live_display_on_a_real_terminal(tmp_path):
    session = f"tfh-{uuid.uuid4().hex[:8]}"
    run = tmp_path / "run"
    run.mkdir()
    cmd = (f"cd {Path(__file__).parent.parent} && TERM=xterm-256color {sys.executable} "
           f"{Path(__file__)} auto {run} 0.02; echo EXITED $?; sleep 30")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", cmd],
                   check=True)
    try:
        mid = ""
        for _ in range(100):  # the load phase takes ~5 s: catch it half way
            time.sleep(0.1)
            mid = capture(session)
            if "LOAD" in mid and "/231 cells" in mid:
                break
        assert "LOAD" in mid and "failed" in mid and "elapsed" in mid and "ETA" in mid, mid
        assert "2.16  loading · " in mid and " cells loaded" in mid, mid
        assert "━" in mid  # the bar
        assert "cell 1/231" not in mid  # cells go to the log, not the screen
        end = ""
        for _ in range(150):
            time.sleep(0.1)
            end = capture(session)
            if "EXITED" in end:
                break
        assert "EXITED 0" in end, end
        assert "done: 231 cells, 119 failed" in end and "progress.log" in end
        assert "LOAD" not in end  # the live display cleared itself
        assert len([ln for ln in end.splitlines() if ln.strip()]) < 10, end
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    assert sum("] cell " in ln for ln in (run / "progress.log").read_text().splitlines()) == CELLS


if __name__ == "__main__":
    mode, run_dir = sys.argv[1], Path(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    os.environ.setdefault("COLUMNS", "120")
    drive(make_progress(mode), run_dir, delay)
