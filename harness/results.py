"""The results folder: results/<run-id>/run.json and cells.jsonl (one JSON object per finished
cell, appended and flushed as each finishes, so an interrupted run keeps what it did).

`read_run` is the one reader every command uses (show, report, check, diff, merge, advise,
--resume): it checks what it reads, and knows the run's plan, so a run with missing cells can
never look complete."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .errors import HarnessError
from .jsonfile import write_json_atomic
from .plan import KEY_FIELDS, Cell, RowError, shard_cells
from .vocab import STATUSES

# The columns every cell row carries, in order (see docs/design.md).
COLUMNS = [
    *KEY_FIELDS, "status", "error_type", "error", "params_total", "params_equal",
    "params_missing", "params_extra", "params_shape", "params_dtype", "params_value",
    "params_by_value", "param_diffs", "max_abs_diff", "max_rel_diff", "max_ulp", "rtol", "atol",
    "seconds", "on_disk_format", "save_versions", "load_versions", "save_env", "load_env",
    "resume_ok", "differs", "reused_from", "notes", "log",
    "diverges_at", "layer_diffs", "tolerance_to_pass",  # prediction mismatches: layer_diffs.py
]

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class RunError(HarnessError):
    """A run folder that cannot be read or written as asked (one line, naming it)."""


def new_run_id() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def check_run_id(run_id: str) -> str:
    """A run id names one folder inside the results folder: never a path."""
    if not _RUN_ID.match(run_id) or ".." in run_id:
        raise RunError(f"--run-id {run_id!r}: use a plain folder name (letters, digits, '.', "
                       "'_', '-'), not a path")
    return run_id


def _jsonable(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return str(v)


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.cells_file = self.path / "cells.jsonl"
        self._lock = threading.Lock()

    @classmethod
    def check_new(cls, results_dir: Path, run_id: str | None = None) -> RunDir:
        """The run folder a new run would create, refused in one line where it cannot be
        (before any environment is installed)."""
        results_dir = Path(results_dir)
        for parent in (results_dir, *results_dir.parents):
            if parent.exists():
                if not parent.is_dir():
                    raise RunError(f"--results-dir {results_dir}: {parent} is a file, not a "
                                   "folder")
                if not os.access(parent, os.W_OK | os.X_OK):
                    raise RunError(f"--results-dir {results_dir}: {parent} is not writable")
                break
        run = cls(results_dir / check_run_id(run_id or new_run_id()))
        if run.path.exists():
            raise RunError(f"{run.path} exists: finish it with `harness run --resume {run.path}`"
                           " or choose another --run-id")
        return run

    @classmethod
    def create(cls, results_dir: Path, run_id: str | None = None) -> RunDir:
        run = cls.check_new(results_dir, run_id)
        try:
            run.path.mkdir(parents=True)
        except OSError as exc:
            raise RunError(f"cannot create the run folder {run.path}: "
                           f"{exc.strerror or exc}") from None
        return run

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """An existing run, to append to (`--resume`).  A last line cut by a killed host gets
        its newline, so the next row starts on a line of its own."""
        run = cls(Path(path))
        if not (run.path / "run.json").is_file():
            raise RunError(f"{run.path} is not a run folder (no run.json)")
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
        write_json_atomic(self.path / "run.json", base | info, default=_jsonable)

    def read_info(self) -> dict:
        return read_run_info(self.path)

    def append(self, row: dict, sync: bool = True) -> None:
        """One finished cell, flushed and synced before the next: a killed host keeps it.  An
        I/O error here (disk full) is the run's error, not the cell's: it propagates.
        `sync=False` for a row that costs nothing to make again (reused from the load cache):
        flushed, but not waited for on the disk."""
        line = json.dumps(row, default=_jsonable)
        with self._lock, open(self.cells_file, "a") as f:
            f.write(line + "\n")
            f.flush()
            if sync:
                os.fsync(f.fileno())

    def read(self) -> RunData:
        return read_run(self.path)

    def rows(self) -> list[dict]:
        return read_rows(self.cells_file)


@dataclass
class RunData:
    """A run as read back: its run.json, its valid rows, and its plan against them."""

    path: Path
    info: dict
    rows: list[dict] = field(default_factory=list)
    bad_lines: int = 0  # lines of cells.jsonl that are no row (cut, garbage, not an object)
    planned: list[Cell] | None = None  # None: run.json does not say (an old run)
    conflicts: dict[tuple, list[str]] = field(default_factory=dict)  # key -> its rows' statuses

    @property
    def inconsistent(self) -> list[tuple[dict, str]]:
        """Pass rows whose own figures say otherwise (a hand edit, a broken writer)."""
        return [(r, why) for r in self.rows if (why := pass_row_problem(r))]

    @property
    def present(self) -> set[tuple]:
        return {Cell.from_row(r).key() for r in self.rows}

    @property
    def missing(self) -> list[Cell]:
        if self.planned is None:
            return []
        present = self.present
        return [c for c in self.planned if c.key() not in present]

    @property
    def extra(self) -> list[dict]:
        """Rows for cells the plan does not have (a merge of another matrix, a hand edit)."""
        if self.planned is None:
            return []
        keys = {c.key() for c in self.planned}
        return [r for r in self.rows if Cell.from_row(r).key() not in keys]

    def completeness(self) -> str | None:
        """One line when the run is not whole (missing cells, unreadable lines), else None."""
        parts = []
        missing = self.missing
        if missing:
            parts.append(f"{len(missing)} of {len(self.planned)} planned cells are missing "
                         f"(finish with `harness run --resume {self.path}`)")
        if self.bad_lines:
            parts.append(f"{self.bad_lines} line(s) of {self.path / 'cells.jsonl'} are not "
                         "cell rows and were skipped")
        parts += self.integrity()
        return "; ".join(parts) or None

    def integrity(self) -> list[str]:
        """What makes the rows untrustworthy as a whole, one phrase each: cells with rows that
        disagree, rows outside the plan, pass rows their own figures contradict."""
        parts = []
        if self.conflicts:
            key, statuses = next(iter(self.conflicts.items()))
            parts.append(f"{len(self.conflicts)} cell(s) have rows that disagree (e.g. "
                         f"{' / '.join(map(str, key[4:7]))} {key[0]} -> {key[2]}: "
                         f"{', then '.join(statuses)}; the first is shown)")
        extra = self.extra
        if extra:
            parts.append(f"{len(extra)} row(s) are for cells outside the run's plan")
        bad = self.inconsistent
        if bad:
            r, why = bad[0]
            parts.append(f"{len(bad)} pass row(s) contradict their own figures (e.g. "
                         f"{r['model']} / {r['format']} / {r['loader']}: {why})")
        return parts


def read_run_info(path: Path) -> dict:
    info_file = Path(path) / "run.json"
    if Path(path).is_file() and Path(path).parent.joinpath("run.json").is_file():
        raise RunError(f"{path} is a file of a run: give its folder, {Path(path).parent}")
    if not Path(path).is_dir():
        raise RunError(f"{path} is not a run folder (no such folder)")
    if not info_file.is_file():
        raise RunError(f"{path} is not a run folder (no run.json)")
    try:
        info = json.loads(info_file.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{info_file} is not valid JSON ({exc}); the rows in cells.jsonl are "
                       "intact") from None
    except OSError as exc:
        raise RunError(f"{info_file}: {exc.strerror or exc}") from None
    if not isinstance(info, dict):
        raise RunError(f"{info_file} is not a JSON object")
    return info


def planned_cells(info: dict) -> list[Cell] | None:
    """The cells run.json says the run was to have: its matrix, shard and cell selection."""
    from .matrix import Matrix

    m = info.get("matrix")
    if not isinstance(m, dict):
        return None
    if isinstance(m.get("cell_keys"), list):  # an explicit plan (fixtures, try)
        try:
            return [Cell(*k) for k in m["cell_keys"]]
        except TypeError as exc:
            raise RunError(f"run.json's cell_keys cannot be read back ({exc})") from None
    if not isinstance(m.get("definition"), dict):
        return None
    try:
        cells = Matrix.from_dict(m["definition"]).cells()
        shard = m.get("shard")
        if shard:
            cells = shard_cells(cells, int(shard[0]), int(shard[1]))
    except (HarnessError, KeyError, TypeError, ValueError) as exc:
        raise RunError(f"run.json's matrix cannot be read back ({exc})") from None
    only = m.get("only")
    if isinstance(only, list):
        keep = {tuple(k) for k in only if isinstance(k, list)}
        cells = [c for c in cells if c.key() in keep]
    return cells


def valid_row(obj) -> bool:
    try:
        Cell.from_row(obj)
    except RowError:
        return False
    return obj.get("status") in STATUSES


def scan_rows(path: Path) -> tuple[list[dict], int]:
    """The rows of a cells.jsonl, and how many lines were not rows (a line cut by a killed
    host, garbage, JSON that is not a row object)."""
    path = Path(path)
    if not path.exists():
        return [], 0
    rows, bad = [], 0
    with open(path, "rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                bad += 1
                continue
            if valid_row(obj):
                rows.append(obj)
            else:
                bad += 1
    return rows, bad


def read_rows(path: Path) -> list[dict]:
    """The valid rows of a cells.jsonl (see scan_rows)."""
    return scan_rows(path)[0]


def read_run(path: Path) -> RunData:
    """A run folder, checked: run.json must be readable; cells.jsonl lines that are no row are
    counted, not trusted; duplicate rows of one cell keep the first."""
    path = Path(path)
    info = read_run_info(path)
    rows, bad = scan_rows(path / "cells.jsonl")
    seen: dict[tuple, dict] = {}
    conflicts: dict[tuple, list[str]] = {}
    for r in rows:
        key = Cell.from_row(r).key()
        if key not in seen:
            seen[key] = r
        elif r.get("status") != seen[key].get("status"):
            conflicts.setdefault(key, [seen[key]["status"]]).append(r["status"])
    return RunData(path, info, list(seen.values()), bad, planned_cells(info), conflicts)


def pass_row_problem(row: dict) -> str | None:
    """Why a `pass` row cannot be one by its own figures (None: it can, or it is no pass):
    parameters it says differ, a difference that is no number, a `differs` list."""
    if row.get("status") != "pass":
        return None
    total, equal = row.get("params_total"), row.get("params_equal")
    if isinstance(total, int) and isinstance(equal, int) and equal < total:
        return f"parameters {equal}/{total} bit-identical"
    if isinstance(row.get("params_extra"), int) and row["params_extra"] > 0:
        return f"{row['params_extra']} extra parameter(s)"
    for k in ("max_abs_diff", "max_rel_diff"):
        v = row.get(k)
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)
                              or v != v or v in (float("inf"), float("-inf"))):
            return f"{k} {v}"
    if row.get("differs"):
        return f"differs: {', '.join(map(str, row['differs']))}"
    return None


def load_frame(run_path: Path, rows: list[dict] | None = None):
    import pandas as pd

    if rows is None:
        rows = read_run(run_path).rows
    return pd.DataFrame(rows, columns=list(dict.fromkeys(COLUMNS + [k for r in rows for k in r])))
