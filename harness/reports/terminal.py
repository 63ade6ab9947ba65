"""The terminal table (`harness run`, `harness show`): the verdict of each upgrade first, then a
table that fits a screen, then one footnote per distinct error.

- one save -> load pair: rows = format x loader, columns = models, a symbol per cell;
- several pairs: rows = format x loader, columns = save -> load pairs, each square a symbol
  and how many of its applicable cells pass (run_view's Group and mark);
- `detail=True`: a row per model x format x loader, a column per pair, the status and the
  max |diff| of the predictions (the table the harness printed before it had the others)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from .. import (
    advise,  # (module import: advise imports run_view, which imports this package)
    verdict,
)
from .run_view import Group, RunView, error_summary, is_missing, mark

SYMBOLS = {"pass": "✓", "mismatch": "≠", "load-error": "✗", "save-error": "S", "crash": "crash",
           "timeout": "timeout", "unsupported": "-"}
TRAINING_SYMBOL = "T"  # a mismatch of training only: loads and predicts the same
GROUP_SYMBOLS = {"✅": "✓", "❌": "✗", "⚠️": "~"}  # one terminal column each
LEGEND = ("✓ pass  ≠ loads, but parameters or predictions differ  T loads and predicts the same; "
          "training cannot resume (optimizer state lost or `fit()` raises)  ✗ load-error  "
          "S save-error  - unsupported  [n] error below (in full in cells.jsonl)")
GROUP_LEGEND = ("each square: ✓ all, ~ some, ✗ none of its applicable cells load and predict the "
                "same (n/m; Tk: k of those cannot resume training); [n] errors below (in full in "
                "cells.jsonl)")
ALIKE = "(+n alike): n [variant] loaders that do the same, shown with --detail"
MAX_ENVS_INLINE = 4
MAX_NOTES = 8  # footnotes under the compact table; --detail lists every distinct error
_COUNTS = re.compile(r"\b\d+/\d+\b")
_NUMBERS = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


class Notes:
    """Numbers each distinct error of a failing cell once.  Summaries that read the same but for
    their numbers ("0/4 bit-identical", "0/8 bit-identical"), as far as a line shows them, share
    one footnote, which lists the counts (the full texts are in cells.jsonl)."""

    def __init__(self, width: int, shown: set | None = None):
        self.width = width
        self.shown = shown  # None: every error gets a footnote; else only these keys
        self.numbers: dict[str, int] = {}
        self.texts: dict[str, str] = {}
        self.counts: dict[str, list[str]] = {}
        self.cells: dict[str, int] = {}  # key -> how many cells show it

    def ref(self, cell: dict) -> int | None:
        if cell["status"] in ("pass", "unsupported"):
            return None
        text = error_summary(cell, width=10_000)
        if text is None:
            return None
        # one footnote per error as a person reads it: the visible text, numbers aside
        key = _NUMBERS.sub("#", text[: self.width])
        self.cells[key] = self.cells.get(key, 0) + 1
        if self.shown is not None and key not in self.shown:
            return None
        self.texts.setdefault(key, text)
        found = self.counts.setdefault(key, [])
        found += [c for c in _COUNTS.findall(text) if c not in found]
        return self.numbers.setdefault(key, len(self.numbers) + 1)

    def refs(self, cells: list[dict]) -> list[int]:
        return sorted({n for c in cells if (n := self.ref(c)) is not None})

    def lines(self) -> list[str]:
        out = []
        for key, n in self.numbers.items():
            text = self.texts[key]
            counts = self.counts[key]
            if len(counts) > 1 and _COUNTS.search(text):
                text = _COUNTS.sub(", ".join(counts), text, count=1)
            line = f"[{n}] {text}"
            out.append(line if len(line) <= self.width else line[: self.width - 3] + "...")
        return out


def display_width(text: str) -> int:
    from rich.cells import cell_len

    return cell_len(text)


def grid(header: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned columns, two spaces apart, measured in terminal cells."""
    widths = [max(display_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for r in [header, *rows]:
        cells = [c + " " * (w - display_width(c)) for c, w in zip(r, widths, strict=True)]
        out.append("  ".join(cells).rstrip())
    return out


def _with_refs(text: str, refs: list[int]) -> str:
    return text + "".join(f" [{n}]" for n in refs)


def _cell_mark(cells: list[dict], notes: Notes) -> str:
    if not cells:
        return ""
    worst = max(cells, key=lambda c: verdict.RANK.get(verdict.kind(c) or "", -1))
    symbol = TRAINING_SYMBOL if verdict.kind(worst) == verdict.TRAINING else \
        SYMBOLS.get(worst["status"], worst["status"])
    return _with_refs(symbol, notes.refs(cells))


def _group_mark(cells: list[dict], notes: Notes) -> str:
    text = mark(Group(list(cells)))
    for emoji, symbol in GROUP_SYMBOLS.items():
        text = text.replace(emoji, symbol)
    return _with_refs(text, notes.refs(cells)) if text else ""


def _fold_variants(rows: list[list[str]]) -> list[list[str]]:
    """Drop a `loader[variant]` row whose marks equal its plain loader's (the workaround changes
    nothing here) and count it on the plain row: "keras.models.load_model (+4 alike)"."""
    plain = {r[1]: r for r in rows if "[" not in r[1]}
    alike: dict[str, int] = {}
    kept = []
    for r in rows:
        base = plain.get(r[1].split("[", 1)[0])
        if "[" in r[1] and base is not None and base[2:] == r[2:]:
            alike[base[1]] = alike.get(base[1], 0) + 1
            continue
        kept.append(r)
    return [[r[0], r[1] + (f" (+{alike[r[1]]} alike)" if r[1] in alike else ""), *r[2:]]
            for r in kept]


def _rows(view: RunView, columns: list, key, marker, notes: Notes,
          fold: bool = True) -> list[list[str]]:
    """A row per format x loader; `key(cell)` names the cell's column."""
    index: dict[tuple, list[dict]] = {}
    for c in view.cells:
        index.setdefault((c["format"], c["loader"], key(c)), []).append(c)
    rows = []
    for fmt in view.formats:
        mine = []
        for loader in view.loaders(fmt):
            marks = [marker(index.get((fmt, loader, col), []), notes) for col in columns]
            if any(marks):
                mine.append(["", loader, *marks])
        mine = _fold_variants(mine) if fold else mine
        if mine:
            mine[0][0] = fmt
        rows += mine
    return rows


def _pairs(view: RunView) -> list[tuple[str, str]]:
    found = {(view.side_label(c["save_tf"], c["save_device"]),
              view.side_label(c["load_tf"], c["load_device"])) for c in view.cells}
    order = [view.side_label(*s) for s in view.save_sides]
    order_ld = [view.side_label(*s) for s in view.load_sides]
    return sorted(found, key=lambda p: (order.index(p[0]), order_ld.index(p[1])))


def _pair_of(view: RunView):
    return lambda c: (view.side_label(c["save_tf"], c["save_device"]),
                      view.side_label(c["load_tf"], c["load_device"]))


def focus_pair(view: RunView) -> tuple[str, str] | None:
    """The one pair a run is about: its only pair, or `--save X --load Y`'s X -> Y beside the
    X -> X baseline (which the verdict summarizes as "already fails under X")."""
    pairs = _pairs(view)
    upgrade = [p for p in pairs if p[0] != p[1]]
    if len(pairs) == 1:
        return pairs[0]
    if len(upgrade) == 1 and all(p == (upgrade[0][0],) * 2 for p in pairs if p not in upgrade):
        return upgrade[0]
    return None


def compact_table(view: RunView, notes: Notes) -> tuple[list[str], str]:
    pairs = _pairs(view)
    focus = focus_pair(view)
    if focus is not None:
        pair_of = _pair_of(view)
        rows = _rows(view, view.models, lambda c: c["model"] if pair_of(c) == focus else None,
                     _cell_mark, notes)
        title = f"{focus[0]} -> {focus[1]}"
        if len(pairs) > 1:
            title += f" (the {focus[0]} -> {focus[0]} baseline: in the verdict above)"
        return grid(["format", "loader", *view.models], rows), f"{title}: {LEGEND}; {ALIKE}"
    rows = _rows(view, pairs, _pair_of(view), _group_mark, notes)
    header = ["format", "loader", *(f"{s} -> {ld}" for s, ld in pairs)]
    return grid(header, rows), f"{GROUP_LEGEND}; {ALIKE}"


def _detail_mark(cell: dict, notes: Notes) -> str:
    status, diff = cell["status"], cell.get("max_abs_diff")
    text = status
    if status in ("pass", "mismatch") and not is_missing(diff):
        text = f"{status} {float(diff):.0e}" if diff else f"{status} 0"
    return _with_refs(text, notes.refs([cell]))


def detail_table(view: RunView, notes: Notes) -> list[str]:
    pairs = _pairs(view)
    pair_of = _pair_of(view)
    index = {(c["model"], c["format"], c["loader"], pair_of(c)): c for c in view.cells}
    rows = []
    for model in view.models:
        for fmt in view.formats:
            for loader in view.loaders(fmt):
                marks = [_detail_mark(index[k], notes) if (k := (model, fmt, loader, p)) in index
                         else "" for p in pairs]
                if any(marks):
                    rows.append([model, fmt, loader, *marks])
    header = ["model", "format", "loader", *(f"{s} -> {ld}" for s, ld in pairs)]
    return grid(header, rows) + ["", "(pass/mismatch show max |diff| of predictions against the "
                                     "save side; [n] is the error below, in full in cells.jsonl)"]


def env_lines(view: RunView) -> list[str]:
    lines = ["Environments:"]
    for e in view.environments():
        keras = str(e.get("keras")) + (f" (tf_keras {e['tf_keras']})" if e.get("tf_keras") else "")
        lines.append(f"  {e['label']:<18} tf {e.get('tf')}, keras {keras}, numpy {e.get('numpy')}"
                     f", h5py {e.get('h5py')}, protobuf {e.get('protobuf')}, python "
                     f"{e.get('python')} [{e.get('backend')}]")
    return lines


def env_line(view: RunView) -> list[str]:
    """One line naming each environment's TF and Keras (the compact table's header)."""
    envs = view.environments()
    if len(envs) > MAX_ENVS_INLINE:
        return [f"Environments: {len(envs)} (versions: `harness show --detail`)"]
    named = [f"{e['label']} (tf {e.get('tf')}, keras {e.get('keras')}"
             + (f", tf_keras {e['tf_keras']}" if e.get("tf_keras") else "") + ")" for e in envs]
    return [f"Environments: {', '.join(named)}"]


def terminal_table(run_path: Path, detail: bool = False, width: int | None = None) -> str:
    """What `harness run` and `harness show` print: the verdict, the table, the footnotes."""
    view = RunView(run_path)
    if view.df.empty:
        note = view.missing_note()
        return "(no cells)" + (f"\n{note}" if note else "")
    width = width or max(100, shutil.get_terminal_size((160, 50)).columns)
    notes = Notes(width)
    head = [note, ""] if (note := view.missing_note()) else []
    verdict_lines = advise.verdicts(view)
    if detail:
        head += env_lines(view) + [""] + (verdict_lines + [""] if verdict_lines else [])
        table, legend = detail_table(view, notes), None
    else:
        if not verdict_lines or focus_pair(view) is None and \
                len(advise.upgrades(view)) != len(_pairs(view)):
            head += env_line(view)
        head += verdict_lines + [""]
        table, legend = compact_table(view, notes)
        if len(notes.numbers) > MAX_NOTES:  # the screen holds the most frequent errors
            top = sorted(notes.cells, key=lambda k: -notes.cells[k])[:MAX_NOTES]
            hidden = len(notes.numbers) - MAX_NOTES
            notes = Notes(width, shown=set(top))
            table, legend = compact_table(view, notes)
            legend += (f"; the {MAX_NOTES} most frequent errors are below, {hidden} more "
                       "(unnumbered marks) with --detail")
    counts = view.df["status"].value_counts()
    summary = f"{len(view.df)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    tail = ["", summary] + ([legend] if legend else []) + ([""] + notes.lines()
                                                          if notes.numbers else [])
    # error texts are scrubbed (error_summary); the run's own path stays: it is the user's
    return "\n".join(head + table + tail)
