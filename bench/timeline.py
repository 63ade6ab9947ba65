"""Where a run's core-seconds went, from the files its workers left (no instrumentation):

    python bench/timeline.py RUN_DIR [-j 2]

Each worker's folder holds `batch-<k>.json` (written when the host started it), `versions.json`
(written when TF had imported, with the import's own seconds), `<id>.start` and `<id>.json` per
cell (begun, finished) and `worker-<k>.log` (last written when it ended).  From their times:

  cores x wall        what the run had
  no worker           core-seconds with no TF process on them (waiting for saves, the tail)
  TF import           inside `import tensorflow` (and the rest of the worker's start)
  inside cells        from a cell's .start to its .json (the row's own `seconds` are within)
  between cells       a worker waiting for its next request (host latency, its feed empty)
  after last cell     a worker done but not yet gone

The floor of bench/run_bench.py counts one import per environment plus the cells' own seconds;
everything else in this table is the scheduler's and the host's share of the gap.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

CELL = re.compile(r"^([sl]\d+)\.start$")


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def worker_spans(work: Path) -> list[dict]:
    """One entry per worker process: its start, TF ready, end, cells and the gaps between."""
    out = []
    for folder in sorted(p for p in work.iterdir() if p.is_dir()):
        starts = {m.group(1): _mtime(p) for p in folder.iterdir()
                  if (m := CELL.match(p.name))}
        cells = sorted((t, _mtime(folder / f"{rid}.json") or t) for rid, t in starts.items()
                       if t is not None)
        for batch in sorted(folder.glob("batch-*.json")):
            k = batch.stem.split("-")[1]
            begun = _mtime(batch)
            ended = _mtime(folder / f"worker-{k}.log") or begun
            mine = [c for c in cells if begun <= c[0] <= ended + 1]
            ended = max([ended] + [e for _, e in mine])
            ready = mine[0][0] if mine else ended
            try:
                imp = float(json.loads((folder / "versions.json").read_text())
                            .get("import_seconds") or 0)
            except (OSError, ValueError):
                imp = 0.0
            inside = sum(e - s for s, e in mine)
            gaps = [max(0.0, b[0] - a[1]) for a, b in zip(mine, mine[1:], strict=False)]
            out.append({"worker": f"{folder.name}#{k}", "begun": begun, "ended": ended,
                        "start": ready - begun, "import": imp, "inside": inside,
                        "between": sum(gaps), "gaps": sorted(gaps, reverse=True)[:5],
                        "after": ended - (mine[-1][1] if mine else ready), "cells": len(mine)})
    return out


def breakdown(run_dir: Path, cores: int) -> dict:
    spans = worker_spans(run_dir / "work")
    if not spans:
        return {}
    t0 = min(s["begun"] for s in spans)
    t1 = max(s["ended"] for s in spans)
    busy = sum(s["ended"] - s["begun"] for s in spans)
    return {"wall": t1 - t0, "cores_x_wall": cores * (t1 - t0), "workers": len(spans),
            "no_worker": cores * (t1 - t0) - busy,
            "tf_import": sum(s["start"] for s in spans),
            "import_seconds": sum(s["import"] for s in spans),
            "inside_cells": sum(s["inside"] for s in spans),
            "between_cells": sum(s["between"] for s in spans),
            "after_last_cell": sum(s["after"] for s in spans), "spans": spans}


def print_breakdown(b: dict, indent: str = "  ") -> None:
    if not b:
        print(f"{indent}(no worker folders)")
        return
    total = b["cores_x_wall"]

    def line(name: str, value: float, what: str = "") -> None:
        print(f"{indent}{name:<18} {value:7.1f} core-s  {100 * value / total:5.1f}%  {what}")

    print(f"{indent}{b['workers']} worker processes over {b['wall']:.1f} s wall")
    line("cores x wall", total)
    line("no worker", b["no_worker"], "no TF process on the core")
    line("TF import", b["tf_import"], f"worker start to first cell ({b['import_seconds']:.1f} s "
         "of it in `import tensorflow`)")
    line("inside cells", b["inside_cells"])
    line("between cells", b["between_cells"], "waiting for the next request")
    line("after last cell", b["after_last_cell"], "done, not yet gone")
    t0 = min(s["begun"] for s in b["spans"])
    for s in b["spans"]:
        print(f"{indent}  {s['worker']:<40} {s['begun'] - t0:6.1f} .. {s['ended'] - t0:6.1f} s,"
              f" {s['cells']} cells,"
              f" start {s['start']:.1f} s, between {s['between']:.1f} s"
              f" (longest {', '.join(f'{g:.2f}' for g in s['gaps'])})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("-j", "--jobs", type=int, default=2, help="cores the run had")
    args = ap.parse_args(argv)
    if not (args.run_dir / "work").is_dir():
        print(f"error: {args.run_dir} has no work/ folder (a run's folder keeps it)",
              file=sys.stderr)
        return 2
    print_breakdown(breakdown(args.run_dir, args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
