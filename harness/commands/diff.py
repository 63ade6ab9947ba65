"""`harness diff RUN_A RUN_B`: the cells whose status changed between two runs (and the cells
only one of them has).  Exits 1 when some status changed, like diff(1); 0 when none did."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("diff", help="list the cells whose status changed between two runs")
    p.add_argument("run_a", type=Path, help="the earlier results/<run-id> folder")
    p.add_argument("run_b", type=Path, help="the later results/<run-id> folder")


def _key_text(key: tuple) -> str:
    save_tf, save_dev, load_tf, load_dev, model, fmt, loader = key
    devices = "" if save_dev == load_dev == "cpu" else f" ({save_dev} -> {load_dev})"
    return f"{save_tf} -> {load_tf}{devices} {model} / {fmt} / {loader}"


def status_changes(cells_a: list[dict], cells_b: list[dict]):
    from ..plan.cells import Cell

    a = {Cell.from_row(c).key(): c for c in cells_a}
    b = {Cell.from_row(c).key(): c for c in cells_b}
    changed = [(k, a[k], b[k]) for k in a if k in b and a[k]["status"] != b[k]["status"]]
    return changed, [k for k in a if k not in b], [k for k in b if k not in a]


def main(args) -> int:
    from ..results.store import read_run
    from ..results.view import RunView, error_summary

    data = {p: read_run(p) for p in (args.run_a, args.run_b)}
    view_a, view_b = RunView(args.run_a), RunView(args.run_b)
    changed, only_a, only_b = status_changes(view_a.cells, view_b.cells)
    for path, d in data.items():
        if d.completeness():
            print(f"note: {path}: {d.completeness()}")
    for key, ca, cb in changed:
        line = f"{_key_text(key)}: {ca['status']} -> {cb['status']}"
        why = error_summary(cb)
        print(line + (f"  ({why})" if why and cb["status"] != "unsupported" else ""))
    common = len(view_a.cells) - len(only_a)
    print(f"{len(changed)} of {common} common cells changed status "
          f"({view_a.run_id} -> {view_b.run_id}); {len(only_a)} cells only in {view_a.run_id}, "
          f"{len(only_b)} only in {view_b.run_id}")
    return 1 if changed else 0
