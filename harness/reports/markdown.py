"""The Markdown report: per format, a save-version x load-version table whose squares aggregate
that format's models and loaders, then the same per loader, with footnotes to the errors; headed
by the date, the environments' resolved versions and the command that made the run."""

from __future__ import annotations

from ..findings import advise, artifact_changes
from ..results.view import Footnotes, RunView, mark
from ..scrub import scrub_any

MAX_VERDICTS = 10  # a nightly's consecutive upgrades (2.12 -> 2.13 ... 2.20 -> 2.21)


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join([" --- "] * len(header)) + "|"]
    out += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in rows]
    return out


def _with_refs(text: str, refs: list[int]) -> str:
    return text + "".join(f" [{n}]" for n in refs) if text else ""


def environment_table(view: RunView) -> list[str]:
    envs = view.environments()
    if not envs:
        return ["(run.json records no environments)"]
    cols = ["tf", "keras", "tf_keras", "numpy", "h5py", "protobuf", "python"]
    cols = [c for c in cols if any(e.get(c) for e in envs)]
    rows = [[e["label"], *(str(e.get(c) or "") for c in cols),
             ", ".join(x for x in (e.get("device"), e.get("backend")) if x)] for e in envs]
    return _table(["environment", *cols, "device, backend"], rows)


MAX_DIRECTION_COLUMNS = 16  # beyond this the per-loader table becomes one matrix per loader


def _matrix(view: RunView, groups: dict, notes: Footnotes, corner: str) -> list[str]:
    header = [corner] + [view.side_label(*s) for s in view.load_sides]
    rows = []
    for save in view.save_sides:
        row = [view.side_label(*save)]
        for load in view.load_sides:
            g = groups.get(save + load)
            row.append(_with_refs(mark(g), notes.refs(g.applicable)) if g else "")
        rows.append(row)
    return _table(header, rows)


def format_tables(view: RunView, fmt: str, notes: Footnotes) -> list[str]:
    out = [f"## {fmt}", ""]
    groups = view.groups(fmt)
    out += _matrix(view, groups, notes, "saved with \\ loaded with")
    loaders = view.loaders(fmt)
    by_loader = view.groups(fmt, by_loader=True)
    directions = [(s, ld) for s in view.save_sides for ld in view.load_sides
                  if s + ld in groups]
    if len(directions) > MAX_DIRECTION_COLUMNS:
        out += ["", "<details><summary>By loader</summary>", ""]
        for loader in loaders:
            mine = {k[:4]: g for k, g in by_loader.items() if k[4] == loader}
            out += [f"`{loader}`:", ""] + _matrix(view, mine, notes, "saved \\ loaded") + [""]
        return out + ["</details>", ""]
    header = ["loader"] + [f"{view.side_label(*s)} → {view.side_label(*ld)}"
                           for s, ld in directions]
    rows = []
    for loader in loaders:
        row = [f"`{loader}`"]
        for s, ld in directions:
            g = by_loader.get(s + ld + (loader,))
            row.append(_with_refs(mark(g), notes.refs(g.applicable)) if g else "")
        rows.append(row)
    out += ["", "By loader:", ""] + _table(header, rows) + [""]
    return out


def _bullets(lines: list[str]) -> list[str]:
    """The verdict's lines as Markdown: "  x" a bullet, "    x" one under the line above it,
    "      x" (a wrapped line's rest) joined to its line."""
    return [("  " if ln.startswith("    ") else "") + f"- {_escape(ln.strip())}"
            for ln in advise.unwrap(lines)]


def verdict_section(view: RunView) -> list[str]:
    """The verdict of each key upgrade, first thing in the report."""
    pairs = advise.key_upgrades(view)[:MAX_VERDICTS]
    if not pairs:
        return []
    out = ["## Verdict", ""]
    for old, new in pairs:
        head, *rest = advise.verdict(advise.Advisor(view, old, new), advise.REPORT_WIDTH)
        out += [f"**{_escape(head)}**", ""] + _bullets(rest) + [""]
    out.append("Any other pair: `harness advise --from A --to B` on this run; the HTML report "
               "picks any pair too.")
    return out + [""]


def render(view: RunView) -> str:
    notes = Footnotes()
    counts = view.df["status"].value_counts()
    lines = [
        f"# TensorFlow save/load compatibility ({view.run_id})", "",
        f"- **Date:** {view.date}",
        f"- **Command:** `{view.command}`",
        f"- **Cells:** {len(view.df)} ("
        + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")",
        f"- **Models:** {', '.join(view.models)}", "",
        "Each square counts the cells (models x loaders) of that format that `pass` "
        "(loaded, every parameter bit-identical, predictions within tolerance) among those "
        "that apply; `unsupported` cells (the API or format does not exist there) are left out. "
        "✅ all pass, ⚠️ some, ❌ none, n/a nothing applies. [n] points to the errors below.", "",
    ]
    note = view.missing_note(f"results/{view.run_id}")
    if note:
        lines += [f"> **Incomplete:** {note}", ""]
    lines += verdict_section(view)
    lines += ["## Environments", "", *environment_table(view), ""]
    for fmt in view.formats:
        lines += format_tables(view, fmt, notes)
    lines += artifact_changes.markdown(view.path)
    lines += ["## Errors", ""]
    if not notes.numbers:
        lines.append("(none)")
    for text, n in notes.numbers.items():
        lines.append(f"{n}. {_escape(text)} ({', '.join(sorted(notes.where[text]))})")
    return scrub_any("\n".join(lines) + "\n")


def write(view: RunView, out_dir) -> list:
    path = out_dir / "report.md"
    path.write_text(render(view))
    return [path]
