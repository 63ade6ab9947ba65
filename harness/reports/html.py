"""The HTML report: one self-contained page (no external CSS, JS or fonts).  The run's cells are
embedded as JSON; a small script draws, under filters by model, format and loader that apply to
all of it: the verdict of the chosen upgrade, its model x format overview, the advice per loader
(each fix the Python call a user pastes), the share of cells that pass per format and pair, and
every single cell (status, error, max |diff| and versions on hover, everything on click).  The
filter state lives in the URL fragment (#model=mlp&format=h5), so a view can be linked to."""

from __future__ import annotations

import html
import json

from ..findings import advise
from ..results.view import RunView, error_summary, scrub, version_key
from ..verdict import decide as verdict
from ..vocab import STATUSES
from .html_assets import PAGE_CSS, PAGE_JS

# Fields of a cell the page shows; the rest (log, raw envs) would only make the page heavy.
CELL_FIELDS = ("model", "format", "loader", "status", "error_type", "error", "params_total",
               "params_equal", "params_missing", "params_extra", "params_value", "param_diffs",
               "max_abs_diff", "max_rel_diff", "max_ulp", "rtol", "atol", "seconds",
               "on_disk_format", "save_versions", "load_versions", "notes", "differs",
               "resume_ok")
MAX_ERROR_CHARS = 4000


def _cell_payload(view: RunView, i: int, cell: dict) -> dict:
    out = {k: cell.get(k) for k in CELL_FIELDS}
    if isinstance(out["error"], str) and len(out["error"]) > MAX_ERROR_CHARS:
        out["error"] = out["error"][:MAX_ERROR_CHARS] + " [...]"
    out["id"] = i
    out["kind"] = verdict.kind(cell)  # training only is its own mark: loads, predicts the same
    out["save"] = view.side_label(cell["save_tf"], cell["save_device"])
    out["load"] = view.side_label(cell["load_tf"], cell["load_device"])
    out["summary"] = error_summary(cell)
    return scrub(out)  # no path of the machine that made the run


def changes(view: RunView, old: str, new: str) -> dict:
    """What the upgrade old -> new makes of each (format, loader, model) that does not simply keep
    working, in verdict.py's words (breaks, already, fixed, new, ...): the page's model x format
    overview marks the squares where a loader breaks, and hides advice rows about models the
    filters leave out."""
    advisor = advise.Advisor(view, old, new)
    out: dict[str, dict[str, dict[str, str]]] = {}
    for fmt in view.formats:
        for loader in view.loaders(fmt):
            after = advisor.cells(old, new, fmt, loader)
            if not after:
                continue
            before = advisor.cells(old, advisor.base, fmt, loader) if advisor.base else {}
            v = verdict.loader_verdict(fmt, loader, view.models, before, after,
                                       advisor.baselined)
            # what simply keeps working (or does not apply) is left out: the page looks for the
            # rest, and a run of many pairs stays small
            kept = {o.model: o.change for o in v.outcomes
                    if o.change not in (verdict.WORKS, verdict.NA)}
            if kept:
                out.setdefault(fmt, {})[loader] = kept
    return out


def upgrades(view: RunView) -> tuple[dict, str | None]:
    """Every save -> load pair of different versions, for the page's upgrade picker, and the one
    it shows first: the oldest save version to the newest plain load version."""
    saves = sorted(set(view.df["save_tf"]), key=version_key)
    loads = sorted(set(view.df["load_tf"]), key=version_key)
    present = {(s, ld) for s, ld, *_ in view.cell_index}
    out = {f"{s} -> {ld}": {**advise.upgrade_payload(view, s, ld),
                            "changes": changes(view, s, ld)}
           for s in saves for ld in loads if s != ld and (s, ld) in present}
    key = advise.upgrades(view)
    first = None
    if key:
        first = f"{key[0][0]} -> {max((ld for _, ld in key), key=version_key)}"
        first = first if first in out else f"{key[0][0]} -> {key[0][1]}"
    return scrub(out), first


def payload(view: RunView) -> dict:
    """What the page's script reads.  Cells travel as rows under one list of field names, and
    the versions an environment resolved travel once ("versions": key -> dict, cells name the
    key): a 5000-cell run stays a few MB instead of twice that."""
    cells = [_cell_payload(view, i, c) for i, c in enumerate(view.cells)]
    versions: dict[str, dict] = {}
    keys: dict[str, str] = {}
    for c in cells:
        for side in ("save_versions", "load_versions"):
            v = c[side]
            if isinstance(v, dict):
                text = json.dumps(v, sort_keys=True, default=str)
                if text not in keys:
                    keys[text] = f"v{len(keys)}"
                    versions[keys[text]] = v
                c[side] = keys[text]
    fields = list(cells[0]) if cells else []
    picks, first = upgrades(view)
    return {
        "upgrades": picks, "first_upgrade": first,
        "upgrade_from": sorted(set(view.df["save_tf"]), key=version_key),
        "upgrade_to": sorted(set(view.df["load_tf"]), key=version_key),
        "missing": view.missing_note(f"results/{view.run_id}"),
        "run_id": view.run_id, "date": view.date, "command": scrub(view.command),
        "environments": view.environments(),
        "save": [view.side_label(*s) for s in view.save_sides],
        "load": [view.side_label(*s) for s in view.load_sides],
        "formats": view.formats, "models": view.models,
        "loaders": list(dict.fromkeys(ld for f in view.formats for ld in view.loaders(f))),
        "versions": versions, "fields": fields, "statuses": list(STATUSES),
        "raw_readers": sorted(verdict.RAW_READERS),
        "rows": [[c[f] for f in fields] for c in cells],
    }


def cells_of(data: dict) -> list[dict]:
    """The cells of a payload as dicts, versions resolved (what the page's script rebuilds)."""
    out = []
    for r in data["rows"]:
        c = dict(zip(data["fields"], r, strict=True))
        for side in ("save_versions", "load_versions"):
            c[side] = data["versions"].get(c[side], c[side])
        out.append(c)
    return out


def _json_for_script(data: dict) -> str:
    # Inside <script>, "</script>" or "<!--" in an error message would end the element early.
    text = json.dumps(data, default=str, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(view: RunView) -> str:
    data = payload(view)
    title = f"TF compatibility: {view.run_id}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{PAGE_CSS}</style>
</head>
<body>
<header>
  <h1>TensorFlow save/load compatibility</h1>
  <p class="meta" id="meta"></p>
</header>
<nav id="filters" aria-label="filters"></nav>
<section id="upgrade" aria-label="upgrade">
  <p class="pick"><b>What breaks on an upgrade:</b> saved with <select id="from"></select>
    loaded with <select id="to"></select>
    <span class="hint">(any pair of the run; first its widest upgrade)</span></p>
  <div id="verdict"></div>
  <div id="overview"></div>
  <div id="upgrade-loaders"></div>
</section>
<main>
  <section id="heatmaps"></section>
  <section id="details-section">
    <h2>Every cell</h2>
    <p class="hint">Per format, rows: model and loader; columns: saved with &rarr; loaded with.
      Hover a cell for its error, max |diff| and versions; click it for everything.</p>
    <div id="grids"></div>
  </section>
  <section id="envs-section"><h2>Environments</h2><div id="envs"></div></section>
</main>
<aside id="panel" hidden><button id="panel-close" aria-label="close">&times;</button>
  <div id="panel-body"></div></aside>
<noscript><p>This page draws its tables with JavaScript; report.md and cells.csv next to it
  hold the same results.</p></noscript>
<script type="application/json" id="run-data">{_json_for_script(data)}</script>
<script>{PAGE_JS}</script>
</body>
</html>
"""


def write(view: RunView, out_dir) -> list:
    path = out_dir / "report.html"
    path.write_text(render(view), encoding="utf-8")
    return [path]
