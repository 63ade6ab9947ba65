"""The terminal table: per model/format/loader, one column per save -> load direction."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .results import load_frame


def _mark(row) -> str:
    status = row["status"]
    diff = row.get("max_abs_diff")
    if status in ("pass", "mismatch") and diff is not None and diff == diff:
        return f"{status} {float(diff):.0e}" if diff else f"{status} 0"
    return status


_ARTIFACT_PATH = re.compile(r"\S*artifacts/[^/\s]+/[^/\s]+/[^/\s]+/")


def error_summary(row, width: int = 150) -> str | None:
    """The first line of a cell's error, with its type: what a footnote shows."""
    if row["status"] == "pass" or not isinstance(row.get("error"), str):
        return None
    first = row["error"].strip().splitlines()[0] if row["error"].strip() else ""
    first = _ARTIFACT_PATH.sub(".../", first)  # the same error for every model reads the same
    kind = row.get("error_type")
    text = f"{kind}: {first}" if isinstance(kind, str) and kind else first
    return text if len(text) <= width else text[: width - 3] + "..."


def with_footnotes(df):
    """Number each distinct error; return the marks with [n] and the footnote lines."""
    notes: dict[str, int] = {}
    marks = []
    for _, row in df.iterrows():
        mark, summary = _mark(row), error_summary(row)
        if summary:
            n = notes.setdefault(summary, len(notes) + 1)
            mark = f"{mark} [{n}]"
        marks.append(mark)
    return marks, [f"[{n}] {text}" for text, n in notes.items()]


def env_lines(run_path: Path) -> list[str]:
    info = json.loads((Path(run_path) / "run.json").read_text())
    lines = []
    for label, env in info.get("environments", {}).items():
        r = env.get("resolved", {})
        keras = str(r.get("keras")) + (f" (tf_keras {r['tf_keras']})" if r.get("tf_keras") else "")
        lines.append(f"  {label:<18} tf {r.get('tf')}, keras {keras}, numpy {r.get('numpy')}, "
                     f"h5py {r.get('h5py')}, protobuf {r.get('protobuf')}, "
                     f"python {r.get('python')} [{env.get('backend')}]")
    return lines


def terminal_table(run_path: Path) -> str:
    import pandas as pd

    df = load_frame(run_path)
    if df.empty:
        return "(no cells)"
    df["cell"], footnotes = with_footnotes(df)
    df["save -> load"] = df["save_tf"] + " -> " + df["load_tf"]
    pivot = df.pivot_table(index=["model", "format", "loader"], columns="save -> load",
                           values="cell", aggfunc="first").fillna("")
    pivot.columns.name = None
    counts = df["status"].value_counts()
    with pd.option_context("display.max_rows", None, "display.max_columns", None,
                           "display.width", 250, "display.max_colwidth", 60):
        table = pivot.to_string()
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    return "\n".join(["Environments:", *env_lines(run_path), "", table, "",
                      f"{len(df)} cells: {summary}",
                      "(pass/mismatch show max |diff| of predictions against the save side; "
                      "[n] is the error below, in full in cells.jsonl)", "", *footnotes])
