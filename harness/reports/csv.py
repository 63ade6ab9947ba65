"""The CSV files: cells.csv (one row per cell, flat: versions split into columns, errors on one
line) and summary.csv (per format and direction: how many cells of each status)."""

from __future__ import annotations

import csv
import json

from ..results.view import KEY, RunView, error_summary, scrub
from ..vocab import STATUSES

CELL_COLUMNS = KEY + [
    "status", "error_type", "error_summary", "params_total", "params_equal", "params_missing",
    "params_extra", "params_value", "max_abs_diff", "max_rel_diff", "max_ulp", "rtol", "atol",
    "seconds", "on_disk_format", "save_tf_version", "save_keras_version", "load_tf_version",
    "load_keras_version", "error",
]


def _cell_row(cell: dict) -> dict:
    row = {k: cell.get(k) for k in CELL_COLUMNS if k in cell}
    row["error_summary"] = error_summary(cell)
    for side in ("save", "load"):
        versions = cell.get(f"{side}_versions") or {}
        row[f"{side}_tf_version"] = versions.get("tf")
        keras = versions.get("keras")
        if versions.get("tf_keras"):
            keras = f"{keras} (tf_keras {versions['tf_keras']})"
        row[f"{side}_keras_version"] = keras
    if isinstance(row.get("error"), (dict, list)):
        row["error"] = json.dumps(row["error"])
    return scrub(row)  # no path of the machine that made the run


def write(view: RunView, out_dir) -> list:
    cells_path, summary_path = out_dir / "cells.csv", out_dir / "summary.csv"
    with open(cells_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CELL_COLUMNS)
        writer.writeheader()
        for cell in view.cells:
            writer.writerow(_cell_row(cell))
    with open(summary_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["format", "save_tf", "save_device", "load_tf", "load_device", "passed",
                         "applicable", *STATUSES])
        for fmt in view.formats:
            for key, group in sorted(view.groups(fmt).items(),
                                     key=lambda kv: (view.save_sides.index(kv[0][:2]),
                                                     view.load_sides.index(kv[0][2:]))):
                counts = group.counts()
                writer.writerow([fmt, *key, group.passed, group.total,
                                 *(counts.get(s, 0) for s in STATUSES)])
    return [cells_path, summary_path]
