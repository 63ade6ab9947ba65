"""`harness plan --matrix M --shards N [--json]`: the shards a matrix splits into (cells, the
seconds they are expected to take, load environments), as a table or as the JSON a CI's dynamic
matrix reads (GitHub: `strategy.matrix: ${{ fromJSON(needs.plan.outputs.shards) }}`)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="the shards a matrix splits into (for a CI's job matrix)")
    p.add_argument("--matrix", type=Path, required=True, help="a matrix spec (matrix/*.toml)")
    p.add_argument("--shards", type=int, required=True, metavar="N", help="how many shards")
    p.add_argument("--shard-costs", metavar="RUN|none", default=None,
                   help="cut by the cells' measured seconds in RUN (default: the newest "
                        "complete run of the same matrix under --results-dir; none: by count)")
    p.add_argument("--results-dir", type=Path, default=Path("results"),
                   help="where to look for that run (default: %(default)s)")
    p.add_argument("--json", action="store_true",
                   help='print {"include": [{"shard": "1/8", ...}, ...]} on one line')


def main(args) -> int:
    from ..plan import shards
    from ..plan.matrix import Matrix
    from ..results.costs import choose_costs

    if args.shards < 1:
        raise UserError(f"--shards {args.shards}: give at least 1")
    matrix = Matrix.load(args.matrix)
    costs = choose_costs(args.shard_costs, args.results_dir, matrix.to_dict)
    cells = matrix.cells()
    if args.shards > len(cells):
        raise UserError(f"--shards {args.shards}: the matrix has only {len(cells)} cells")
    rows = shards.plan_shards(cells, args.shards, costs)
    if args.json:
        print(json.dumps({"include": rows}, separators=(",", ":")))
        return 0
    by = f"measured seconds of run {costs.source}" if costs else "cell count (no earlier run)"
    print(f"{len(cells)} cells of {args.matrix} in {args.shards} shards, cut by {by}")
    print(f"{'shard':<8}{'cells':>8}{'seconds':>10}{'load envs':>11}")
    for r in rows:
        secs = f"{r['seconds']:.0f}" if r["seconds"] is not None else "-"
        print(f"{r['shard']:<8}{r['cells']:>8}{secs:>10}{r['load_envs']:>11}")
    if costs:
        mean = sum(r["seconds"] for r in rows) / len(rows)
        print(f"slowest shard: {max(r['seconds'] for r in rows) / mean:.2f}x the mean")
    return 0
