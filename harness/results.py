"""The results folder: results/<run-id>/run.json and cells.jsonl (one JSON object per finished
cell, appended and flushed as each finishes, so an interrupted run keeps what it did)."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import secrets
import threading
from pathlib import Path

import numpy as np

from . import __version__

# The columns every cell row carries, in order (see docs/design.md).
COLUMNS = [
    "save_tf", "save_device", "load_tf", "load_device", "model", "format", "loader", "status",
    "error_type", "error", "params_total", "params_equal", "params_missing", "params_extra",
    "params_shape", "params_dtype", "params_value", "param_diffs", "max_abs_diff",
    "max_rel_diff", "max_ulp", "rtol", "atol", "seconds", "on_disk_format", "save_versions",
    "load_versions", "notes",
]


def new_run_id() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def _jsonable(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return str(v)
    return str(v)


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.cells_file = self.path / "cells.jsonl"
        self._lock = threading.Lock()

    @classmethod
    def create(cls, results_dir: Path, run_id: str | None = None) -> RunDir:
        run = cls(Path(results_dir) / (run_id or new_run_id()))
        run.path.mkdir(parents=True, exist_ok=False)
        return run

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """An existing run, to append to (`--resume`).  A last line cut by a killed host gets
        its newline, so the next row starts on a line of its own."""
        run = cls(Path(path))
        if not (run.path / "run.json").exists():
            raise FileNotFoundError(f"{run.path} is not a run folder (no run.json)")
        if run.cells_file.exists() and run.cells_file.stat().st_size:
            with open(run.cells_file, "rb+") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
        return run

    def write_run_info(self, info: dict) -> None:
        base = {"harness_version": __version__, "host": {
            "hostname": platform.node(), "platform": platform.platform(),
            "python": platform.python_version(), "cpus": os.cpu_count()}}
        tmp = self.path / "run.json.tmp"
        tmp.write_text(json.dumps(base | info, indent=1, default=_jsonable))
        os.replace(tmp, self.path / "run.json")

    def append(self, row: dict) -> None:
        line = json.dumps(row, default=_jsonable)
        with self._lock, open(self.cells_file, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def rows(self) -> list[dict]:
        return read_rows(self.cells_file)


def read_rows(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a crash of the host: skip, keep the rest
                continue
    return rows


def load_frame(run_path: Path):
    import pandas as pd

    rows = read_rows(Path(run_path) / "cells.jsonl")
    return pd.DataFrame(rows, columns=list(dict.fromkeys(COLUMNS + [k for r in rows for k in r])))
