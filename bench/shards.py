"""How evenly a night splits: the shards of a run's plan cut by cell count and by the seconds its
cells took, each shard's projected seconds, and the slowest against the mean.

    python bench/shards.py RUN [--shards 8] [--costs EARLIER_RUN]

RUN's own `seconds` are the truth each cut is measured against.  The cost cut is taken from
EARLIER_RUN (another night of the same matrix) when given: that is what a real night does; cut
from RUN itself it shows the best any contiguous cut could do with perfect knowledge.  Prints
figures and ratios, asserts nothing (targets: slowest shard within 1.15x of the mean).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.plan.cells import Cell  # noqa: E402
from harness.plan.shards import _shard_order, bounds  # noqa: E402
from harness.results.costs import read_costs  # noqa: E402
from harness.results.store import read_run  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--costs", type=Path, help="an earlier run of the same matrix")
    args = ap.parse_args()
    data = read_run(args.run)
    cells = data.planned or [Cell.from_row(r) for r in data.rows]
    truth = read_costs(args.run)
    ordered = sorted(cells, key=_shard_order)
    weights = truth.of(ordered)  # measured seconds, plus a TF import per environment change
    cuts = {"cell count": None, f"seconds of {args.costs or args.run.name}":
            read_costs(args.costs) if args.costs else truth}
    print(f"{len(cells)} cells, {sum(weights) / 3600:.2f} core-hours measured "
          f"({args.run.name}); {args.shards} shards")
    for name, costs in cuts.items():
        spans = bounds(cells, args.shards, costs)
        secs = [sum(weights[lo:hi]) for lo, hi in spans]
        mean = sum(secs) / len(secs)
        print(f"cut by {name}:")
        print("  " + "  ".join(f"{s / 60:6.1f}" for s in secs) + "  (minutes per shard)")
        print(f"  slowest {max(secs) / 60:.1f} min = {max(secs) / mean:.2f}x the mean "
              f"({mean / 60:.1f} min); fastest {min(secs) / mean:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
