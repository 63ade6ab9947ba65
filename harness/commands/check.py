"""`harness check RUN [--expectations FILE]`: exit 0 when every cell of the run is as the
expectations file says (a cell with no entry must `pass` or be `unsupported`), 1 when a cell newly
fails, an expected failure now passes, or a failure changed kind; each is printed, and for each
a TOML entry to paste is drafted."""

from __future__ import annotations

from pathlib import Path

from ..findings.expectations import CHANGED, DEFAULT_PATH, EXPECTED, FIXED, NEW, OK


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="compare a run with the known incompatibilities; exit 1 on "
                                     "anything new")
    p.add_argument("run", type=Path, help="results/<run-id> folder")
    p.add_argument("--expectations", type=Path, default=DEFAULT_PATH,
                   help="known incompatibilities (default: %(default)s)")


def _cell_line(c: dict) -> str:
    side = ""
    if c.get("save_device", "cpu") != "cpu" or c.get("load_device", "cpu") != "cpu":
        side = f" ({c.get('save_device')} -> {c.get('load_device')})"
    return f"{c['save_tf']} -> {c['load_tf']}{side} {c['model']} / {c['format']} / {c['loader']}"


def _what(c: dict) -> str:
    """The cell's error summary, with its kind in the words every report uses."""
    from ..results.view import error_summary
    from ..verdict import decide as verdict

    kind = verdict.kind(c)
    head = f"[{verdict.KIND_SHORT[kind]}] " if kind in (verdict.VALUES, verdict.TRAINING) else ""
    return head + str(error_summary(c))


def main(args) -> int:
    from ..findings.expectations import check_cells, draft_entries, load, to_toml, unused
    from ..results.store import read_run
    from ..results.view import RunView

    exps = load(args.expectations)
    data = read_run(args.run)  # one line and exit 2 where the run cannot be read
    view = RunView(args.run)
    cells = view.cells
    verdicts = check_cells(cells, exps)
    counts = {k: sum(v.kind == k for v in verdicts) for k in (OK, EXPECTED, NEW, FIXED, CHANGED)}
    bad = [v for v in verdicts if v.failing]
    for v in bad:
        c, exp = v.cell, v.expectation
        if v.kind == NEW:
            print(f"NEW FAILURE      {_cell_line(c)}: {_what(c)}")
        elif v.kind == FIXED:
            print(f"NOW PASSES       {_cell_line(c)}: expected {exp.status} by {exp.describe()}: "
                  f"{exp.reason}")
        else:
            print(f"CHANGED          {_cell_line(c)}: {_what(c)} (expected {exp.status} "
                  f"by {exp.describe()})")
    print(f"{len(cells)} cells: {counts[OK]} pass or unsupported, {counts[EXPECTED]} known "
          f"incompatibilities as expected, {counts[NEW]} new failures, {counts[FIXED]} expected "
          f"failures now pass, {counts[CHANGED]} changed status "
          f"(expectations: {args.expectations}, {len(exps.entries)} entries)")
    stale = unused(exps, verdicts)
    if stale:
        print(f"note: {len(stale)} entries matched no cell of this run: "
              + ", ".join(f"#{e.index}" for e in stale))
    new_or_changed = [v.cell for v in bad if v.kind in (NEW, CHANGED)]
    if new_or_changed:
        print("\n# Entries to paste into the expectations file (an entry for a CHANGED cell goes "
              "above the entry it names):\n")
        devices = any(c.get(k) not in (None, "cpu") for c in cells
                      for k in ("save_device", "load_device"))
        print(to_toml(draft_entries(new_or_changed, with_devices=devices)), end="")
    fixed = sorted({v.expectation.index for v in bad if v.kind == FIXED})
    if fixed:
        print(f"\n# Cells now pass: narrow or remove entries {', '.join(f'#{i}' for i in fixed)} "
              f"of {args.expectations}.")
    return 1 if (bad or not _complete(data)) else 0


def _complete(data) -> bool:
    """A run that lacks planned cells (or holds lines that are no row) is never green: the
    cells it does not have could be anything."""
    if data.planned is None:
        print(f"INCOMPLETE       {data.path}: run.json records no plan, so missing cells "
              "cannot be counted")
        return False
    if not data.planned:
        return True
    problem = data.completeness()
    if problem is None:
        return True
    print(f"INCOMPLETE       {problem}")
    for cell in data.missing[:MAX_LISTED]:
        print(f"MISSING          {_cell_line(cell.as_dict())}")
    if len(data.missing) > MAX_LISTED:
        print(f"MISSING          ... and {len(data.missing) - MAX_LISTED} more")
    return False


MAX_LISTED = 20
