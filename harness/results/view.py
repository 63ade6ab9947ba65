"""A finished (or interrupted) run as the reports see it: the cells as a DataFrame, the run's
metadata (date, environments, command) and the shared shaping every writer needs (axis labels,
per-group aggregates, one-line error summaries).  Pure pandas: no TF, no plotting."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..plan.cells import Cell, env_name
from ..scrub import scrub_any
from ..verdict import decide as verdict
from ..vocab import FORMAT_LOADERS, FORMATS, MODELS, Status
from .store import load_frame, read_run

KEY = ["save_tf", "save_device", "load_tf", "load_device", "model", "format", "loader"]
# Statuses that say nothing about compatibility: excluded from "n of m pass".
NOT_APPLICABLE = {Status.UNSUPPORTED.value}
VERSION_FIELDS = ("tf", "keras", "tf_keras", "numpy", "h5py", "protobuf", "python")

_ARTIFACT_PATH = re.compile(r"[^\s='\"]*/artifacts/(?:[^/\s]+/)+")
_PAIRS = {"{": "}", "[": "]"}
LONG_LITERAL = 60  # a dict/list literal longer than this (a model's config) is elided


def scrub(value):
    """scrub_any through strings, lists and dicts (a cell's payload)."""
    if isinstance(value, str):
        return scrub_any(value)
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    return value


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _elide_literals(text: str) -> str:
    """Replace each outermost {...} or [...] longer than LONG_LITERAL characters, or cut off by
    the end of the text, with "{...}" ("{..." when unclosed)."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch not in _PAIRS:
            out.append(ch)
            i += 1
            continue
        depth, j = 0, i
        while j < len(text):
            if text[j] in "{[":
                depth += 1
            elif text[j] in "}]":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= len(text):  # never closed
            out.append(ch + "..." if len(text) - i > LONG_LITERAL else text[i:])
            break
        span = text[i:j + 1]
        out.append(ch + "..." + text[j] if len(span) > LONG_LITERAL else span)
        i = j + 1
    return "".join(out)


def error_summary(row, width: int = 180) -> str | None:
    """One line that names what went wrong in a cell, the same for every model that hit the same
    error: artifact paths and long dict/list literals (a model's whole config) are elided, and a
    multi-line message keeps its first and last lines (the cause is often in the last)."""
    if row.get("status") in ("pass", "unsupported") and is_missing(row.get("error")):
        return None
    text = row.get("error")
    text = "" if is_missing(text) else str(text)
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    body = lines[0] if lines else ""
    if len(lines) > 1 and lines[-1] != body:
        body = f"{body} ... {lines[-1]}"
    body = _ARTIFACT_PATH.sub(".../", body)
    body = scrub_any(_elide_literals(body))
    kind = row.get("error_type")
    head = row.get("status", "")
    if not is_missing(kind) and kind:
        head = f"{head} {kind}"
    summary = f"{head}: {body}" if body else str(head)
    return summary if len(summary) <= width else summary[: width - 3] + "..."


def _order(values, preferred) -> list[str]:
    known = [v for v in dict.fromkeys(preferred) if v in values]
    return known + sorted(v for v in values if v not in known)


def version_key(label: str):
    """Sort "2.9" before "2.12", variants ("2.16+tf_keras") right after their base."""
    base, _, variant = str(label).partition("+")
    parts = []
    for p in base.split("."):
        parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return (parts, variant)


@dataclass
class Group:
    """Cells aggregated into one mark: a (format, save, load) square of the heatmap."""

    cells: list[dict] = field(default_factory=list)

    @property
    def applicable(self) -> list[dict]:
        return [c for c in self.cells if c["status"] not in NOT_APPLICABLE]

    @property
    def passed(self) -> int:
        return sum(c["status"] == "pass" for c in self.applicable)

    @property
    def loaded(self) -> int:
        """Cells that load and predict the same (pass or training only): a training-only
        mismatch is not a load failure."""
        return sum(verdict.loads(c) for c in self.applicable)

    @property
    def training(self) -> int:
        """Cells that load and predict the same but cannot resume training."""
        return sum(verdict.kind(c) == verdict.TRAINING for c in self.applicable)

    @property
    def total(self) -> int:
        return len(self.applicable)

    @property
    def fraction(self) -> float | None:
        return self.passed / self.total if self.total else None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cells:
            out[c["status"]] = out.get(c["status"], 0) + 1
        return out


SELECT_COLUMNS = {"models": "model", "formats": "format", "loaders": "loader"}


def select_cells(df, select: dict[str, list[str]]):
    """The rows of `df` the --models/--formats/--loaders filters keep."""
    from ..errors import UserError

    for flag, column in SELECT_COLUMNS.items():
        wanted = [w for w in select.get(flag) or [] if w]
        if not wanted or df.empty:
            continue
        have = sorted(set(df[column]))
        names = set(have) | ({n.split("[", 1)[0] for n in have} if column == "loader" else set())
        unknown = [w for w in wanted if w not in names]
        if unknown:
            raise UserError(f"--{flag}: {', '.join(unknown)} not in this run; it has "
                            f"{', '.join(have)}")
        keep = df[column].isin(wanted)
        if column == "loader":
            keep |= df[column].str.split("[", n=1).str[0].isin(wanted)
        df = df[keep]
    return df.reset_index(drop=True)


class RunView:
    def __init__(self, path: Path, select: dict[str, list[str]] | None = None):
        """`select` ({"models": [...], "formats": [...], "loaders": [...]}, each optional): only
        those cells (`--models/--formats/--loaders`); a loader name without `[variant]` selects
        its variants too.  A name the run does not have is a UserError listing the run's own."""
        self.path = Path(path)
        self.data = read_run(self.path)  # RunError (one line) if it is no run folder
        self.info = self.data.info
        self.df = load_frame(self.path, self.data.rows)
        if select:
            self.df = select_cells(self.df, select)
        self._loaders: dict[str | None, list[str]] = {}  # format -> its loaders (loaders())
        for col in ("save_device", "load_device"):  # rows of older runs have no device: cpu
            self.df[col] = [v if isinstance(v, str) and v else "cpu" for v in self.df[col]]

    # --- completeness -------------------------------------------------------------------------

    @property
    def missing(self) -> list[Cell]:
        return self.data.missing

    def missing_note(self, run_ref: str | None = None) -> str | None:
        """"4 of 7 planned cells missing: ..." when the run did not finish, else None.  run_ref
        names the run in the --resume hint (a published report passes its id, not a path)."""
        missing, planned = self.data.missing, self.data.planned
        notes = []
        if missing:
            notes.append(f"{len(missing)} of {len(planned)} planned cells missing: the run did "
                         f"not finish; `harness run --resume {run_ref or self.path}`")
        if self.data.bad_lines:
            notes.append(f"{self.data.bad_lines} line(s) of cells.jsonl are no cell row and "
                         "were skipped")
        notes += self.data.integrity()
        return "; ".join(notes) or None

    # --- metadata -----------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return str(self.info.get("run_id") or self.path.name)

    @property
    def date(self) -> str:
        """When the run happened: run.json's own stamp if the runner wrote one, else the time the
        last cell was written (cells.jsonl is appended to as cells finish)."""
        for key in ("finished", "started", "date", "created"):
            if self.info.get(key):
                return str(self.info[key])
        cells = self.path / "cells.jsonl"
        stamp = (cells if cells.exists() else self.path / "run.json").stat().st_mtime
        return dt.datetime.fromtimestamp(stamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    def _without_run_folders(self, cmd: str) -> str:
        """An absolute --results-dir names this machine's folders: the run's own folder reads
        `<run>` and the folder of runs `<results>` (a report is published)."""
        run = str(self.path.resolve())
        for folder, name in ((run, "<run>"), (str(Path(run).parent), "<results>")):
            if len(folder) > 1:
                cmd = re.sub(re.escape(folder) + r"(?=/|\s|$)", name, cmd)
        return cmd

    @property
    def command(self) -> str:
        """The command that made the run: recorded verbatim when run.json has it, else rebuilt from
        the recorded matrix (marked as such)."""
        cmd = self.info.get("command")
        if isinstance(cmd, list):
            cmd = " ".join(str(c) for c in cmd)
        if cmd:
            return self._without_run_folders(str(cmd))
        m = self.info.get("matrix") or {}
        parts = ["harness run"]
        if m.get("spec") or m.get("matrix"):
            parts.append(f"--matrix {m.get('spec') or m.get('matrix')}")
        for opt in ("save", "load", "models", "formats", "loaders", "devices"):
            if isinstance(m.get(opt), list) and m[opt]:
                parts.append(f"--{opt} {','.join(map(str, m[opt]))}")
        if m.get("as_of"):
            parts.append(f"--as-of {m['as_of']}")
        if m.get("backend") and m["backend"] != "uv":
            parts.append(f"--backend {m['backend']}")
        return " ".join(parts) + "  (rebuilt from run.json)"

    def environments(self) -> list[dict]:
        """One row per environment: its label, device, backend and resolved versions.  From
        run.json, else (an old or merged run) from the versions the cells carry."""
        envs = self.info.get("environments") or {}
        rows = []
        for label, env in envs.items():
            resolved = env.get("resolved") or {}
            rows.append({"label": label, "backend": env.get("backend"),
                         "device": (env.get("requested") or {}).get("device"),
                         **{k: resolved.get(k) for k in VERSION_FIELDS}})
        if rows:
            return sorted(rows, key=lambda r: version_key(r["label"]))
        seen: dict[str, dict] = {}
        for _, row in self.df.iterrows():
            for side in ("save", "load"):
                v = row.get(f"{side}_versions")
                if isinstance(v, dict) and row[f"{side}_tf"] not in seen:
                    seen[row[f"{side}_tf"]] = {"label": row[f"{side}_tf"], "backend": None,
                                               "device": row[f"{side}_device"],
                                               **{k: v.get(k) for k in VERSION_FIELDS}}
        return sorted(seen.values(), key=lambda r: version_key(r["label"]))

    # --- axes ---------------------------------------------------------------------------------

    def side_label(self, tf: str, device: str) -> str:
        """The environment's one display name (plan.env_name): "2.16", "2.16@gpu"."""
        return env_name(str(tf), str(device or "cpu"))

    def _sides(self, side: str) -> list[tuple[str, str]]:
        pairs = set(zip(self.df[f"{side}_tf"], self.df[f"{side}_device"], strict=True))
        return sorted(pairs, key=lambda p: (version_key(p[0]), p[1]))

    @cached_property
    def save_sides(self) -> list[tuple[str, str]]:
        return self._sides("save")

    @cached_property
    def load_sides(self) -> list[tuple[str, str]]:
        return self._sides("load")

    @cached_property
    def formats(self) -> list[str]:
        return _order(set(self.df["format"]), FORMATS)

    @cached_property
    def models(self) -> list[str]:
        return _order(set(self.df["model"]), MODELS)

    def loaders(self, fmt: str | None = None) -> list[str]:
        """The loaders of `fmt` (all formats: None) in the run.  Advice asks this for every
        upgrade x format x loader (tens of thousands of times on a nightly): computed once."""
        if fmt not in self._loaders:
            self._loaders[fmt] = self._find_loaders(fmt)
        return list(self._loaders[fmt])

    def _find_loaders(self, fmt: str | None) -> list[str]:
        df = self.df if fmt is None else self.df[self.df["format"] == fmt]
        seen = list(dict.fromkeys(df["loader"]))
        # the vocabulary's order (the default call first, then workarounds), then any other
        known = [lo for f in ([fmt] if fmt else self.formats) for lo in FORMAT_LOADERS.get(f, ())]
        return _order(set(seen), list(dict.fromkeys(known)) + seen)

    def records(self) -> list[dict]:
        """Every cell as a plain dict, NaN as None."""
        out = []
        for rec in self.df.to_dict("records"):
            out.append({k: (None if not isinstance(v, (dict, list)) and is_missing(v) else v)
                        for k, v in rec.items()})
        return out

    @cached_property
    def cells(self) -> list[dict]:
        return self.records()

    @cached_property
    def cell_index(self) -> dict[tuple, dict[str, dict]]:
        """(save_tf, load_tf, format, loader) -> {model: cell}: what advice looks up, for every
        upgrade of a 23,100-cell run.  Of several devices the worst cell stays, so advice never
        hides a failing device."""
        index: dict[tuple, dict[str, dict]] = {}
        for c in self.cells:
            models = index.setdefault((c["save_tf"], c["load_tf"], c["format"], c["loader"]), {})
            if c["model"] not in models or models[c["model"]]["status"] == "pass":
                models[c["model"]] = c
        return index

    def groups(self, fmt: str, by_loader: bool = False) -> dict[tuple, Group]:
        """(save_tf, save_device, load_tf, load_device[, loader]) -> Group for one format."""
        out: dict[tuple, Group] = {}
        for c in self.cells:
            if c["format"] != fmt:
                continue
            key = (c["save_tf"], c["save_device"], c["load_tf"], c["load_device"])
            if by_loader:
                key += (c["loader"],)
            out.setdefault(key, Group()).cells.append(c)
        return out


class Footnotes:
    """Numbers each distinct error summary once, in order of first use."""

    def __init__(self):
        self.numbers: dict[str, int] = {}
        self.where: dict[str, set[str]] = {}

    def refs(self, cells: list[dict]) -> list[int]:
        found = []
        for c in cells:
            text = error_summary(c)
            if text is None:
                continue
            n = self.numbers.setdefault(text, len(self.numbers) + 1)
            self.where.setdefault(text, set()).add(c["model"])
            if n not in found:
                found.append(n)
        return sorted(found)


def mark(group: Group) -> str:
    """The text of one aggregated square: a symbol and how many applicable cells load and
    predict the same, then "T<k>" for the k of those that cannot resume training."""
    if not group.cells:
        return ""
    if group.total == 0:
        return "n/a"
    if group.loaded == group.total:
        symbol = "✅"
    elif group.loaded == 0:
        symbol = "❌"
    else:
        symbol = "⚠️"
    training = f" T{group.training}" if group.training else ""
    return f"{symbol} {group.loaded}/{group.total}{training}"


MARK_LEGEND = ("n/m: n of m applicable cells load and predict the same; Tk: k of those load and "
               "predict the same but training cannot resume (optimizer state lost or `fit()` "
               "raises)")
