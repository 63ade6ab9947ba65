"""`harness why RUN [--models/--formats/--loaders LIST] [--save S] [--load T]`: the whole story
of the cells named: status, the error, the parameter figures and, for a prediction mismatch, the
per-layer story (the first layer whose outputs diverge, each layer's max |diff| in order, the
tolerance at which the cell would pass)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError
from .common import add_select_options, csv, selection

MAX_CELLS = 20


def add_parser(sub) -> None:
    p = sub.add_parser("why", help="why cells differ: a cell's whole story, layer by layer")
    p.add_argument("run", type=Path, help="results/<run-id> folder")
    p.add_argument("--save", type=csv, metavar="SPECS", help="only cells saved under these")
    p.add_argument("--load", type=csv, metavar="SPECS", help="only cells loaded under these")
    p.add_argument("--all", action="store_true",
                   help="every cell selected, passes too (default: the cells that do not pass)")
    add_select_options(p)


def _field(row: dict, key: str):
    value = row.get(key)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def story(row: dict) -> list[str]:
    """What one cell says, line by line."""
    from ..verdict.decide import row_error, row_figures

    head = (f"{row['model']} {row['format']} {row['loader']} {row['save_tf']} -> "
            f"{row['load_tf']}: {row['status']}")
    out = [head]
    if figures := row_figures(row):
        out.append(f"  {figures}")
    if row.get("error"):
        out.append(f"  error: {row_error(row, 300)}")
    at = _field(row, "diverges_at")
    if isinstance(at, dict):
        what = ", ".join(str(v) for v in (at.get("class"), at.get("dtype_policy")) if v)
        out.append(f"  outputs diverge from layer `{at.get('layer')}`"
                   + (f" ({what})" if what else "") + f" on, by {at.get('max_abs_diff'):.2e}")
    diffs = _field(row, "layer_diffs")
    if isinstance(diffs, list) and diffs:
        out.append("  max |diff| per layer, in order:")
        for d in diffs:
            v = d.get("max_abs_diff")
            out.append(f"    {d.get('layer'):<24} {v:.2e}" if v is not None
                       else f"    {d.get('layer'):<24} (not compared)")
    need = _field(row, "tolerance_to_pass")
    if isinstance(need, dict) and need.get("atol") is not None:
        alt = f" (or rtol {need['or_rtol']:.2e})" if need.get("or_rtol") is not None else ""
        out.append(f"  passes at atol {need['atol']:.2e}{alt}; the cell's tolerance is rtol "
                   f"{row.get('rtol')}, atol {row.get('atol')}")
    notes = row.get("notes") if isinstance(row.get("notes"), dict) else {}
    if notes.get("layers_not_compared"):
        out.append(f"  no per-layer comparison: {notes['layers_not_compared']}")
    if notes.get("keras_advisories"):
        out.append(f"  note: {notes['keras_advisories']}")
    return out


def main(args) -> int:
    from ..results.store import read_run
    from ..results.view import RunView

    select = selection(args) or {}
    RunView(args.run, select=select or None)  # names a model, format or loader the run lacks
    wanted = {"models": "model", "formats": "format", "loaders": "loader"}

    def chosen(r: dict) -> bool:
        return all(r.get(wanted[k]) in v or k == "loaders" and
                   str(r.get("loader")).split("[")[0] in v for k, v in select.items())

    rows = [r for r in read_run(args.run).rows if chosen(r)
            and (args.all or r.get("status") != "pass")
            and (not args.save or r.get("save_tf") in args.save)
            and (not args.load or r.get("load_tf") in args.load)]
    if not rows:
        raise UserError(f"{args.run}: no cell matches"
                        + ("" if args.all else " that does not pass (--all shows passes too)"))
    for row in rows[:MAX_CELLS]:
        print("\n".join(story(row)) + "\n")
    if len(rows) > MAX_CELLS:
        print(f"({len(rows) - MAX_CELLS} more cells match: narrow with --models, --formats, "
              "--loaders, --save, --load)")
    return 0
