"""`harness report`: the run's results as Markdown, one self-contained HTML page, a PNG heatmap
and CSV.  One module per output; each has `write(view, out_dir) -> [paths]`."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..results.view import RunView
from . import csv, html, markdown, png

WRITERS = {"md": markdown.write, "html": html.write, "png": png.write, "csv": csv.write}
DEFAULT_FORMATS = ("md", "html", "png", "csv")


def write_reports(run: Path, out_dir: Path | None = None,
                  formats: list[str] | tuple[str, ...] = DEFAULT_FORMATS) -> list[Path]:
    unknown = [f for f in formats if f not in WRITERS]
    if unknown:
        raise UserError(f"unknown report format {', '.join(unknown)} "
                        f"(choose from {', '.join(WRITERS)})")
    view = RunView(run)
    if view.df.empty:
        raise UserError(f"{run} has no cells yet (cells.jsonl is empty or missing)")
    out = Path(out_dir) if out_dir else Path(run) / "report"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in dict.fromkeys(formats):
        written += WRITERS[fmt](view, out)
    return written
