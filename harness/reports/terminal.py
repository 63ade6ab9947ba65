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
import textwrap
from dataclasses import dataclass
from pathlib import Path

from ..findings import advise
from ..results.view import Group, RunView, error_summary, is_missing, mark
from ..verdict import advisories
from ..verdict import decide as verdict

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
NOTE_CHARS = 300  # a footnote shows this much of its error (all of it: cells.jsonl)
MIN_WIDTH = 40
_COUNTS = re.compile(r"\b\d+/\d+(?= bit-identical)")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{4,}\b")


def note_key(text: str) -> str:
    """What makes two errors one footnote: the whole summary (paths already scrubbed by
    error_summary), memory addresses removed, numbers kept but for the per-model "k/n
    bit-identical" counts, which the footnote lists per model."""
    return _COUNTS.sub("#", _ADDRESS.sub("0x…", text))


class Notes:
    """Numbers each distinct error of a failing cell once, in the order the table first shows
    it, whatever the width.  Each footnote names the models it covers; errors that differ only
    in their per-model "k/n bit-identical" counts are one footnote listing each model's."""

    def __init__(self, width: int, shown: set | None = None, models: list[str] | None = None):
        self.width = width
        self.shown = shown  # None: every error gets a footnote; else only these keys
        self.all_models = models or []
        self.numbers: dict[str, int] = {}
        self.texts: dict[str, str] = {}
        self.models: dict[str, dict[str, str | None]] = {}  # key -> model -> its count
        self.cells: dict[str, set[int]] = {}  # key -> the cells (ids) that show it

    def ref(self, cell: dict) -> int | None:
        if cell["status"] in ("pass", "unsupported"):
            return None
        text = error_summary(cell, width=10_000)
        if text is None:
            return None
        key = note_key(text)
        self.cells.setdefault(key, set()).add(id(cell))
        if self.shown is not None and key not in self.shown:
            return None
        self.texts.setdefault(key, text)
        count = _COUNTS.search(text)
        self.models.setdefault(key, {}).setdefault(cell["model"],
                                                   count.group(0) if count else None)
        return self.numbers.setdefault(key, len(self.numbers) + 1)

    def refs(self, cells: list[dict]) -> list[int]:
        return sorted({n for c in cells if (n := self.ref(c)) is not None})

    def _whom(self, key: str) -> str:
        found = self.models[key]
        counted = len(set(found.values()) - {None}) > 1
        if not counted and self.all_models and set(found) >= set(self.all_models) \
                and len(self.all_models) > 1:
            return f"every model ({len(found)})"
        names = [f"{m} {c}" if counted and c else m for m, c in found.items()]
        return ", ".join(names)

    def lines(self) -> list[str]:
        out = []
        for key, n in self.numbers.items():
            text = self.texts[key]
            if len(set(self.models[key].values()) - {None}) > 1:
                text = _COUNTS.sub("k/n", text, count=1)
            if len(text) > NOTE_CHARS:
                text = text[: NOTE_CHARS - 3] + "..."
            out += wrap(f"[{n}] {text} ({self._whom(key)})", self.width,
                        indent=" " * len(f"[{n}] "))
        return out


def wrap(line: str, width: int, indent: str = "      ") -> list[str]:
    """A line wider than `width` wrapped at spaces, its rest indented; a word longer than the
    width (a path, a loader name) is broken rather than left over the edge."""
    if display_width(line) <= width:
        return [line]
    return textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False) or [line]


def display_width(text: str) -> int:
    from rich.cells import cell_len

    return cell_len(text)


def _with_refs(text: str, refs: list[int]) -> str:
    return text + "".join(f" [{n}]" for n in refs)


def _symbol(cells: list[dict]) -> str:
    if not cells:
        return ""
    worst = max(cells, key=lambda c: verdict.RANK.get(verdict.kind(c) or "", -1))
    return TRAINING_SYMBOL if verdict.kind(worst) == verdict.TRAINING else \
        SYMBOLS.get(worst["status"], worst["status"])


def _cell_mark(cells: list[dict], notes: Notes | None) -> str:
    return _with_refs(_symbol(cells), notes.refs(cells) if notes else [])


def _group_mark(cells: list[dict], notes: Notes | None) -> str:
    text = mark(Group(list(cells)))
    for emoji, symbol in GROUP_SYMBOLS.items():
        text = text.replace(emoji, symbol)
    return _with_refs(text, notes.refs(cells) if notes else []) if text else ""


@dataclass
class Entry:
    """One table row: a loader of a format, its cells per column."""

    fmt: str
    label: str
    columns: list[list[dict]]

    @property
    def cells(self) -> list[dict]:
        return [c for col in self.columns for c in col]


def _entries(view: RunView, columns: list, key, marker, fold: bool = True) -> list[Entry]:
    """A row per format x loader; `key(cell)` names the cell's column.  A `loader[variant]`
    row whose marks equal its plain loader's (the workaround changes nothing here) is dropped
    and counted on the plain row: "keras.models.load_model (+4 alike)"."""
    index: dict[tuple, list[dict]] = {}
    for c in view.cells:
        index.setdefault((c["format"], c["loader"], key(c)), []).append(c)
    out = []
    for fmt in view.formats:
        mine = []
        for loader in view.loaders(fmt):
            cols = [index.get((fmt, loader, col), []) for col in columns]
            if any(cols):
                mine.append(Entry(fmt, loader, cols))
        if fold:
            sig = {e.label: [marker(col, Notes(0)) for col in e.columns] for e in mine}
            plain = {e.label for e in mine if "[" not in e.label}
            alike: dict[str, int] = {}
            kept = []
            for e in mine:
                base = e.label.split("[", 1)[0]
                if "[" in e.label and base in plain and sig[base] == sig[e.label]:
                    alike[base] = alike.get(base, 0) + 1
                    continue
                kept.append(e)
            for e in kept:
                if e.label in alike:
                    e.label += f" (+{alike[e.label]} alike)"
            mine = kept
        out += mine
    return out


def _number(entries: list[Entry], notes: Notes) -> None:
    """Footnote numbers in table order (row by row, column by column), before any layout: the
    same at every width."""
    for e in entries:
        for col in e.columns:
            notes.refs(col)


def _abbreviations(names: list[str], size: int) -> list[str]:
    """Unique short column labels: the name if it fits, else its first letters ("custom_fn"
    -> "cfn" at 3), numbered on a clash."""
    out: list[str] = []
    for name in names:
        if len(name) <= size:
            short = name
        elif "_" in name:
            head, *rest = name.split("_")
            short = (head[: max(1, size - len("".join(rest)[: size - 1]))]
                     + "".join(rest))[:size]
        else:
            short = name[:size]
        taken = set(out) | (set(names) - {name})
        if short in taken:  # another letter of the name in the last place, then a number
            letters = [ch for ch in name[1:] if ch.isalnum()]
            tries = [short[:-1] + ch for ch in letters] + [
                short[: size - len(str(i))] + str(i) for i in range(2, 100)]
            short = next(t for t in tries if t not in taken)
        out.append(short)
    return out


def _widths(rows: list[list[str]]) -> list[int]:
    return [max(display_width(r[i]) for r in rows) for i in range(len(rows[0]))]


def _pad(cells: list[str], widths: list[int], sep: str) -> str:
    return sep.join(c + " " * (w - display_width(c))
                    for c, w in zip(cells, widths, strict=True)).rstrip()


def _refs_text(refs: list[int]) -> str:
    return f"[{','.join(map(str, refs))}]" if refs else ""


def _squares(row: list[str], widths: list[int]) -> str:
    return " ".join(c + " " * (w - display_width(c)) for c, w in zip(row, widths, strict=True))


def layout(entries: list[Entry], headers: list[str], marker, notes: Notes, width: int,
           corner: tuple[str, str] = ("format", "loader"),
           abbreviate: bool = True, repeat: bool = False) -> tuple[list[str], list[str]]:
    """The table's lines and a key for any shortened column label, in the first form that fits
    `width`:
    1. a column per format, loader and model (or pair), a mark and its footnotes in each square;
    2. the same with one symbol per square and the row's footnotes at its end, column labels in
       full, then shortened to 3 letters (with a key);
    3. each format on a line of its own, its loaders under it, column labels in full, 3 letters
       or 1 (whichever needs the fewest lines), split into blocks of columns when even that is
       too wide; a loader name too long for its column gets a line of its own.
    Loader and format names are never shortened: they are what a user types.  `repeat`: the
    first column on every row of the wide forms (the per-cell table, for grep)."""
    wide = [[*corner, *headers]] + [[e.fmt if repeat or i == 0 or entries[i - 1].fmt != e.fmt
                                     else "",
                                     e.label, *(marker(col, notes) for col in e.columns)]
                                    for i, e in enumerate(entries)]
    lines = [_pad(r, _widths(wide), "  ") for r in wide]
    if max(map(display_width, lines)) <= width:
        return lines, []
    marks = [[marker(col, None) for col in e.columns] for e in entries]
    refs = [_refs_text(notes.refs(e.cells)) for e in entries]
    sizes = [None, 3, 1] if abbreviate else [None]
    candidates = [(size, headers if size is None else _abbreviations(headers, size))
                  for size in sizes]

    def keyed(labels: list[str]) -> list[str]:
        return [f"{short} = {full}" for short, full in zip(labels, headers, strict=True)
                if short != full]

    fmt_w = max(len(corner[0]), *(len(e.fmt) for e in entries))
    loader_w = max(len(corner[1]), *(len(e.label) for e in entries))
    for _size, labels in candidates[:2]:  # form 2
        widths = _widths([labels, *marks])
        out = [_pad([corner[0], corner[1], _squares(labels, widths)], [fmt_w, loader_w, 0],
                    "  ")]
        for n, e in enumerate(entries):
            first = repeat or n == 0 or entries[n - 1].fmt != e.fmt
            out.append(_pad([e.fmt if first else "", e.label, _squares(marks[n], widths),
                             refs[n]], [fmt_w, loader_w, sum(w + 1 for w in widths) - 1, 0],
                            "  "))
        if max(map(display_width, out)) <= width:
            return out, keyed(labels)
    refs_w = max((len(r) for r in refs), default=0)
    best = None
    for _size, labels in candidates:  # form 3: the candidate needing the fewest lines
        widths = _widths([labels, *marks])
        squares_w = sum(w + 1 for w in widths)
        label_w = max(12, min(max(len(e.label) for e in entries) + 3,
                              width - squares_w - (refs_w + 2 if refs_w else 0)))
        room = width - label_w - (refs_w + 2 if refs_w else 0)
        blocks, block = [], []
        for i, w in enumerate(widths):
            if block and sum(widths[j] + 1 for j in block) + w > room:
                blocks.append(block)
                block = []
            block.append(i)
        blocks.append(block)
        out = _narrow(entries, labels, headers, marks, notes, widths, blocks, label_w,
                      corner)
        if best is None or len(out) < len(best[0]):
            best = (out, keyed(labels))
    return best


def _narrow(entries, labels, headers, marks, notes, widths, blocks, label_w, corner):
    """Form 3 of layout(); each block's rows end in the footnotes of that block's squares."""
    out: list[str] = []
    for b, cols in enumerate(blocks):
        if len(blocks) > 1:
            out += ([""] if b else []) + [f"(columns {cols[0] + 1}-{cols[-1] + 1} of "
                                          f"{len(headers)})"]
        head = f"{corner[0]} / {corner[1]}"
        head = head.ljust(label_w) if len(head) < label_w else head + "\n" + " " * label_w
        out += (head + _squares([labels[i] for i in cols], [widths[i] for i in cols])
                ).rstrip().split("\n")
        for n, e in enumerate(entries):
            if n == 0 or entries[n - 1].fmt != e.fmt:
                out.append(e.fmt)
            row = [marks[n][i] for i in cols]
            if not any(row):
                continue
            label = "  " + e.label
            if len(label) > label_w - 1:
                out.append(label)
                label = ""
            squares = _squares(row, [widths[i] for i in cols])
            refs = _refs_text(notes.refs([c for i in cols for c in e.columns[i]]))
            out.append((label.ljust(label_w) + squares + ("  " + refs if refs else "")).rstrip())
    return out


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


def compact_table(view: RunView, notes: Notes, width: int) -> tuple[list[str], str]:
    pairs = _pairs(view)
    focus = focus_pair(view)
    if focus is not None:
        pair_of = _pair_of(view)
        entries = _entries(view, view.models,
                           lambda c: c["model"] if pair_of(c) == focus else None, _cell_mark)
        _number(entries, notes)
        table, key = layout(entries, view.models, _cell_mark, notes, width)
        title = f"{focus[0]} -> {focus[1]}"
        if len(pairs) > 1:
            title += f" (the {focus[0]} -> {focus[0]} baseline: in the verdict above)"
        legend = f"{title}: {LEGEND}; {ALIKE}"
    else:
        entries = _entries(view, pairs, _pair_of(view), _group_mark)
        _number(entries, notes)
        table, key = layout(entries, [f"{s} -> {ld}" for s, ld in pairs], _group_mark, notes,
                            width, abbreviate=False)
        legend = f"{GROUP_LEGEND}; {ALIKE}"
    if key:
        legend += "; columns: " + ", ".join(key)
    return table, legend


def _detail_mark(cells: list[dict], notes: Notes | None) -> str:
    if not cells:
        return ""
    cell = cells[0]
    status, diff = cell["status"], cell.get("max_abs_diff")
    text = status
    if status in ("pass", "mismatch") and not is_missing(diff):
        text = f"{status} {float(diff):.0e}" if diff else f"{status} 0"
    return _with_refs(text, notes.refs([cell]) if notes else [])


def detail_table(view: RunView, notes: Notes, width: int) -> list[str]:
    pairs = _pairs(view)
    pair_of = _pair_of(view)
    index = {(c["model"], c["format"], c["loader"], pair_of(c)): c for c in view.cells}
    entries = []
    for model in view.models:
        for fmt in view.formats:
            for loader in view.loaders(fmt):
                cols = [[index[k]] if (k := (model, fmt, loader, p)) in index else []
                        for p in pairs]
                if any(cols):
                    entries.append(Entry(model, f"{fmt}  {loader}", cols))
    _number(entries, notes)
    table, _ = layout(entries, [f"{s} -> {ld}" for s, ld in pairs], _detail_mark, notes, width,
                      corner=("model", "format  loader"), abbreviate=False, repeat=True)
    return table + [""] + wrap("(pass/mismatch show max |diff| of predictions against the "
                               "save side; [n] is the error below, in full in cells.jsonl)",
                               width, indent=" ")


def env_lines(view: RunView, width: int = 160) -> list[str]:
    lines = ["Environments:"]
    for e in view.environments():
        keras = str(e.get("keras")) + (f" (tf_keras {e['tf_keras']})" if e.get("tf_keras") else "")
        lines.append(f"  {e['label']:<18} tf {e.get('tf')}, keras {keras}, numpy {e.get('numpy')}"
                     f", h5py {e.get('h5py')}, protobuf {e.get('protobuf')}, python "
                     f"{e.get('python')} [{e.get('backend')}]")
        lines += [w for line in advisories.explained(e.get("keras"))
                  for w in wrap(f"    {line}", width, indent="      ")]
    return lines


def env_line(view: RunView) -> list[str]:
    """One line naming each environment's TF and Keras (the compact table's header)."""
    envs = view.environments()
    if len(envs) > MAX_ENVS_INLINE:
        return [f"Environments: {len(envs)} (versions: `harness show --detail`)"]
    named = [f"{e['label']} (tf {e.get('tf')}, keras {e.get('keras')}"
             + (f", tf_keras {e['tf_keras']}" if e.get("tf_keras") else "") + ")" for e in envs]
    return [f"Environments: {', '.join(named)}"]


def advisory_lines(view: RunView, width: int = 160) -> list[str]:
    """Each environment whose Keras has published safe_mode bypasses, in one sentence."""
    return [line for e in view.environments()
            if (note := advisories.advisory_note(e.get("keras")))
            for line in wrap(f"Note: {e['label']}: {note}", width, indent="  ")]


def terminal_table(run_path: Path, detail: bool = False, width: int | None = None,
                   select: dict | None = None) -> str:
    """What `harness run` and `harness show` print: the verdict, the table, the footnotes, each
    line at most `width` columns (the terminal's; 160 when piped)."""
    view = RunView(run_path, select=select)
    if view.df.empty:
        note = view.missing_note()
        return "(no cells)" + (f"\n{note}" if note else "")
    width = max(MIN_WIDTH, width or shutil.get_terminal_size((160, 50)).columns)
    notes = Notes(width, models=view.models)
    head = [*wrap(note, width), ""] if (note := view.missing_note()) else []
    verdict_lines = advise.verdicts(view, width=width)
    if detail:
        head += env_lines(view, width) + [""] + (verdict_lines + [""] if verdict_lines else [])
        table, legend = detail_table(view, notes, width), None
        from ..verdict.layer_diffs import detail_lines  # why predictions differ: the first layer

        if diverge := detail_lines(view.cells):
            table += ["", *(piece for line in diverge for piece in wrap(line, width))]
    else:
        if not verdict_lines or focus_pair(view) is None and \
                len(advise.upgrades(view)) != len(_pairs(view)):
            head += env_line(view)
        head += verdict_lines + [""]
        table, legend = compact_table(view, notes, width)
        if len(notes.numbers) > MAX_NOTES:  # the screen holds the most frequent errors
            top = sorted(notes.numbers, key=lambda k: (-len(notes.cells[k]), notes.numbers[k]))
            hidden = len(notes.numbers) - MAX_NOTES
            notes = Notes(width, shown=set(top[:MAX_NOTES]), models=view.models)
            table, legend = compact_table(view, notes, width)
            legend += (f"; the {MAX_NOTES} most frequent errors are below, {hidden} more "
                       "(unnumbered marks) with --detail")
    head += [*warned, ""] if (warned := advisory_lines(view, width)) else []
    counts = view.df["status"].value_counts()
    summary = f"{len(view.df)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    tail = ["", *wrap(summary, width, indent="  ")]
    if legend:
        tail += wrap(legend, width, indent="  ")
    if notes.numbers:
        tail += [""] + notes.lines()
    head = [piece for line in head for piece in wrap(line, width)]
    # error texts are scrubbed (error_summary); the run's own path stays: it is the user's
    return "\n".join(head + table + tail)
