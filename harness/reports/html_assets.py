"""The CSS and JavaScript inlined into report.html (kept here so html.py stays readable).

The script reads the JSON in #run-data and builds everything from it; it uses no library and
no network.  Filters are checkbox groups (one drop-down per axis, at the top) whose state is
mirrored in location.hash and applies to every part drawn below them.  The page is laid out to
fit 1000 px: wide tables scroll inside their own box, never the page."""

PAGE_CSS = r"""
:root { --pass:#2b8a3e; --mismatch:#e8590c; --load-error:#c92a2a; --save-error:#862e9c;
  --crash:#212529; --timeout:#f08c00; --training:#fab005; --unsupported:#ced4da;
  --ink:#212529; --muted:#6c757d;
  --line:#dee2e6; --bg:#f8f9fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: var(--ink); margin: 0; background: #fff; }
code { overflow-wrap: anywhere; }
header { padding: 10px 24px 6px; border-bottom: 1px solid var(--line); background: var(--bg); }
h1 { font-size: 18px; margin: 0 0 2px; }
h2 { font-size: 16px; margin: 22px 0 6px; }
h3 { font-size: 14px; margin: 0 0 6px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.meta { color: var(--muted); margin: 0; font-size: 12.5px; }
.meta code { color: var(--ink); background: #e9ecef; padding: 1px 5px; border-radius: 3px; }
main { padding: 0 24px 40px; }
.scroll { overflow-x: auto; max-width: 100%; }
#filters { padding: 6px 24px; border-bottom: 1px solid var(--line); display: flex;
  flex-wrap: wrap; align-items: center; gap: 6px 14px; position: sticky; top: 0;
  background: #fff; z-index: 3; font-size: 13px; }
#filters .flabel { color: var(--muted); }
.fdrop { position: static; }  /* its pop-up spans the bar (the sticky bar holds it) */
.fdrop > summary { cursor: pointer; border: 1px solid var(--line); border-radius: 14px;
  padding: 1px 10px; list-style: none; user-select: none; }
.fdrop > summary::-webkit-details-marker { display: none; }
.fdrop > summary::after { content: " \25BE"; color: var(--muted); }
.fdrop.active > summary { border-color: #1c7ed6; background: #e7f5ff; }
.fdrop[open] > .fgroup { position: absolute; left: 24px; right: 24px; top: calc(100% - 2px);
  z-index: 4; max-height: 60vh; overflow: auto; background: #fff;
  border: 1px solid var(--line); border-radius: 8px; padding: 8px;
  box-shadow: 0 6px 18px rgba(0,0,0,.12); }
.fgroup { display: flex; flex-wrap: wrap; align-items: center; gap: 4px; }
.chip { display: inline-flex; align-items: center; gap: 4px; border: 1px solid var(--line);
  border-radius: 14px; padding: 1px 9px; cursor: pointer; user-select: none; font-size: 12.5px; }
.chip input { margin: 0; }
.chip.off { color: var(--muted); background: var(--bg); text-decoration: line-through; }
.fgroup button, #filters button, #verdict button { font-size: 12px; border: none;
  background: none; color: #1c7ed6; cursor: pointer; padding: 0 4px; }
.fcount { color: var(--muted); }
#heatmaps { margin-top: 8px; }
.hms { display: flex; flex-wrap: wrap; gap: 14px 24px; }
.hm { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
table { border-collapse: collapse; }
.heat th, .grid th, .overview th { font-weight: 600; color: var(--muted); font-size: 12px;
  padding: 3px 6px; white-space: nowrap; }
.heat th.corner, .overview th.corner { text-align: left; font-weight: 400; }
.heat th.row, .overview th.row { text-align: left; color: var(--ink);
  font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-weight: 400; }
.sq { width: 64px; height: 40px; text-align: center; color: #fff; font-weight: 700;
  border: 2px solid #fff; cursor: pointer; border-radius: 6px; font-size: 12.5px; }
.sq small { display: block; font-weight: 400; font-size: 10.5px; opacity: .9; }
.sq.na { background: var(--unsupported); color: var(--muted); }
.sq:hover, td.cell:hover, a.ov:hover { outline: 2px solid var(--ink); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 6px 0 0; font-size: 12px;
  color: var(--muted); }
.legend span::before { content: ""; display: inline-block; width: 11px; height: 11px;
  border-radius: 2px; margin-right: 5px; vertical-align: -1px; background: var(--c); }
.hint { color: var(--muted); margin: 0 0 6px; font-size: 12.5px; }
details.fmt-block { margin: 6px 0; border: 1px solid var(--line); border-radius: 6px;
  padding: 4px 10px; }
details.fmt-block > summary { cursor: pointer; }
details.fmt-block > summary h3 { display: inline; }
details.fmt-block > summary .counts { color: var(--muted); font-size: 12.5px; margin-left: 8px; }
details.fmt-block > .scroll { margin: 6px 0 4px; }
.grid td.rowhead { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px;
  padding: 2px 10px 2px 0; white-space: nowrap; }
.grid td.model { font-weight: 600; padding-right: 10px; }
.grid tr { scroll-margin-top: 56px; }
.grid tr.hit td.rowhead { background: #fff3bf; }
td.cell { width: 118px; min-width: 118px; text-align: center; font-size: 12px; color: #fff;
  cursor: pointer;
  border: 2px solid #fff; padding: 3px 6px; border-radius: 5px; white-space: nowrap; }
td.cell.s-unsupported { color: var(--muted); }
.s-pass { background: var(--pass); } .s-mismatch { background: var(--mismatch); }
.s-training { background: var(--training); }
.s-load-error { background: var(--load-error); } .s-save-error { background: var(--save-error); }
.s-crash { background: var(--crash); } .s-timeout { background: var(--timeout); }
.s-unsupported { background: var(--unsupported); }
td.cell .err { display: block; font-size: 10.5px; opacity: .9; max-width: 180px;
  overflow: hidden; text-overflow: ellipsis; }
#envs table td, #envs table th { border-bottom: 1px solid var(--line); padding: 3px 12px 3px 0;
  text-align: left; font-size: 13px; }
#panel { position: fixed; right: 0; top: 0; bottom: 0; width: min(560px, 96vw); background: #fff;
  border-left: 1px solid var(--line); box-shadow: -6px 0 18px rgba(0,0,0,.08); padding: 18px 20px;
  overflow: auto; z-index: 5; }
#panel-close { position: absolute; right: 12px; top: 8px; font-size: 22px; border: none;
  background: none; cursor: pointer; }
.detail { border-top: 1px solid var(--line); padding: 10px 0; }
.detail .status { display: inline-block; color: #fff; border-radius: 4px; padding: 0 7px; }
.detail .status.s-unsupported { color: var(--ink); }
.detail pre { white-space: pre-wrap; word-break: break-word; background: var(--bg);
  padding: 8px; border-radius: 4px; font-size: 12px; max-height: 280px; overflow: auto; }
.detail dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0;
  font-size: 12.5px; }
.detail dt { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
#upgrade { padding: 2px 24px 12px; border-bottom: 1px solid var(--line); }
.pick { margin: 8px 0 6px; }
.pick select { font: inherit; padding: 1px 4px; margin: 0 4px; }
#verdict { margin: 6px 0; padding: 6px 12px; border-left: 4px solid #1c7ed6;
  background: var(--bg); font-size: 13px; }
#verdict p { margin: 1px 0; } #verdict p.head { font-weight: 700; font-size: 14px; }
#verdict p.line { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#verdict p.sub { margin-left: 22px; }
#verdict p.more { display: none; }
#verdict.full p.line { white-space: normal; }
#verdict.full p.more { display: block; }
#verdict p.legacy { margin-top: 6px; color: #1864ab; }
#verdict p.note { color: var(--muted); font-style: italic; }
#upgrade code { background: #e9ecef; padding: 0 4px; border-radius: 3px; font-size: 12px; }
#overview { margin: 10px 0 4px; }
#overview h2, #upgrade-loaders h2 { margin: 8px 0 4px; font-size: 15px; }
.overview td { padding: 1px; }
a.ov { display: block; width: 54px; height: 22px; line-height: 22px; text-align: center;
  border-radius: 4px; color: #fff; font-size: 11.5px; font-weight: 700; text-decoration: none;
  position: relative; }
a.ov.brk { box-shadow: inset 0 0 0 2px var(--ink); }
a.ov.brk::after { content: ""; position: absolute; top: 0; right: 0; border-style: solid;
  border-width: 0 9px 9px 0; border-color: transparent var(--ink) transparent transparent;
  border-top-right-radius: 4px; }
.k-pass { background: var(--pass); } .k-training { background: var(--training); color: #000; }
.k-values { background: var(--mismatch); } .k-error { background: var(--load-error); }
.k-save-error { background: var(--save-error); }
.k-none { background: var(--unsupported); } a.ov.k-none { color: var(--muted); }
table.fixes { margin-top: 4px; width: 100%; table-layout: fixed; }
.fixes th { text-align: left; color: var(--muted); font-size: 12px; padding: 3px 10px 3px 0; }
.fixes td { border-top: 1px solid var(--line); padding: 4px 10px 4px 0; vertical-align: top;
  font-size: 12.5px; }
.fixes .what { cursor: pointer; }
.fixes .what .text { display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical;
  overflow: hidden; }
.fixes .err-line { color: var(--muted); font-size: 11.5px; display: none; }
.fixes tr.open .what .text { display: block; }
.fixes tr.open .err-line { display: block; }
.fixes .instead > div + div { margin-top: 3px; }
.tag { display: inline-block; color: #fff; border-radius: 4px; padding: 0 6px; font-size: 11.5px;
  font-weight: 600; background: var(--muted); }
.tag.t-BREAKS, .tag.t-FAILS { background: var(--load-error); }
.tag.t-WRONG { background: var(--mismatch); } .tag.t-NEW, .tag.t-FIXED { background: var(--pass); }
.missing { color: var(--load-error); font-weight: 600; margin: 4px 0 0; }
"""

PAGE_JS = r"""
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("run-data").textContent);
  // rows -> cell objects; version keys -> the versions the environment resolved
  DATA.cells = DATA.rows.map(r => {
    const c = Object.fromEntries(DATA.fields.map((f, i) => [f, r[i]]));
    for (const side of ["save_versions", "load_versions"])
      if (typeof c[side] === "string") c[side] = DATA.versions[c[side]];
    return c;
  });
  const AXES = ["model", "format", "loader"];
  const STATUSES = DATA.statuses;  // harness/vocab.py's list, sent with the data
  const selected = {};
  let upgradeKey = DATA.first_upgrade;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined) e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined)
      e.append(typeof k === "string" ? document.createTextNode(k) : k);
    return e;
  }
  function num(x) {
    if (x === null || x === undefined) return "";
    if (x === 0) return "0";
    return Math.abs(x) >= 0.01 && Math.abs(x) < 1000 ? x.toPrecision(3) : x.toExponential(1);
  }
  function versions(v) {
    if (!v) return "";
    const keys = ["tf", "keras", "tf_keras", "numpy", "h5py", "protobuf", "python"];
    return keys.filter(k => v[k]).map(k => k + " " + v[k]).join(", ");
  }
  // 0 -> red, 0.5 -> amber, 1 -> green: the share of applicable cells that pass.
  function shade(f) {
    const stops = [[201, 42, 42], [240, 140, 0], [43, 138, 62]];
    const t = f <= 0.5 ? f / 0.5 : (f - 0.5) / 0.5;
    const [a, b] = f <= 0.5 ? [stops[0], stops[1]] : [stops[1], stops[2]];
    const c = a.map((x, i) => Math.round(x + (b[i] - x) * t));
    return "rgb(" + c.join(",") + ")";
  }

  // --- filter state <-> URL fragment ---------------------------------------------------------
  function readHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    for (const axis of AXES) {
      const all = DATA[axis + "s"];
      const want = params.has(axis) ? params.get(axis).split(",").filter(Boolean) : all;
      selected[axis] = new Set(want.filter(v => all.includes(v)));
    }
    if (params.has("from") && params.has("to"))
      upgradeKey = params.get("from") + " -> " + params.get("to");
    return params.get("cell");
  }
  function writeHash(cellId) {
    const params = new URLSearchParams();
    for (const axis of AXES)
      if (selected[axis].size !== DATA[axis + "s"].length)
        params.set(axis, [...selected[axis]].join(","));
    if (upgradeKey && upgradeKey !== DATA.first_upgrade) {
      const [a, b] = upgradeKey.split(" -> ");
      params.set("from", a); params.set("to", b);
    }
    if (cellId !== undefined && cellId !== null) params.set("cell", cellId);
    const text = params.toString();
    history.replaceState(null, "", text ? "#" + text : location.pathname + location.search);
  }
  function visible(c) {
    return AXES.every(axis => selected[axis].has(c[axis]));
  }

  // Drop-downs keep their open state across redraws (a tick redraws the bar).
  let openAxis = null;
  function drawFilters(cells) {
    const box = document.getElementById("filters");
    box.replaceChildren(el("span", {class: "flabel", text: "Filter:"}));
    // only the loaders of the formats shown are offered (the others keep their state)
    const shownLoaders = new Set(DATA.cells.filter(c => selected.format.has(c.format))
                                          .map(c => c.loader));
    let narrowed = false;
    for (const axis of AXES) {
      const values = DATA[axis + "s"].filter(v => axis !== "loader" || shownLoaders.has(v));
      const on = values.filter(v => selected[axis].has(v)).length;
      const all = on === values.length;
      narrowed = narrowed || selected[axis].size !== DATA[axis + "s"].length;
      const group = el("div", {class: "fgroup", "data-axis": axis});
      for (const value of values) {
        const ticked = selected[axis].has(value);
        const input = el("input", {type: "checkbox", value: value,
          onchange: () => { ticked ? selected[axis].delete(value) : selected[axis].add(value);
                            update(); }});
        input.checked = ticked;
        group.append(el("label", {class: "chip" + (ticked ? "" : " off"), "data-value": value},
                        input, value));
      }
      group.append(el("button", {text: "all", onclick: () => {
        selected[axis] = new Set(DATA[axis + "s"]); update(); }}));
      group.append(el("button", {text: "none", onclick: () => {
        selected[axis] = new Set(); update(); }}));
      const drop = el("details", {class: "fdrop" + (all ? "" : " active"), "data-axis": axis},
                      el("summary", {}, axis + ": ",
                         el("b", {text: all ? "all " + values.length : on + " of " +
                                  values.length})), group);
      drop.open = openAxis === axis;
      drop.addEventListener("toggle", () => {
        if (drop.open) {
          openAxis = axis;
          for (const d of box.querySelectorAll("details.fdrop")) if (d !== drop) d.open = false;
        } else if (openAxis === axis) openAxis = null;
      });
      box.append(drop);
    }
    box.append(el("span", {class: "fcount", text: cells.length + " of " + DATA.cells.length +
                           " cells; the filters apply to everything below"}));
    if (narrowed) box.append(el("button", {text: "show all", onclick: () => {
      for (const axis of AXES) selected[axis] = new Set(DATA[axis + "s"]); update(); }}));
  }
  document.addEventListener("click", e => {
    const bar = document.getElementById("filters");
    if (openAxis !== null && !bar.contains(e.target)) {
      openAxis = null;
      for (const d of bar.querySelectorAll("details.fdrop")) d.open = false;
    }
  });

  function tooltip(c) {
    const lines = [c.model + " / " + c.format + " / " + c.loader,
                   c.save + " \u2192 " + c.load + ": " + c.status];
    if (c.summary) lines.push(c.summary);
    if (c.max_abs_diff !== null && c.max_abs_diff !== undefined)
      lines.push("max |diff| " + num(c.max_abs_diff) + (c.max_ulp != null ? ", " + num(c.max_ulp)
                 + " ULP" : ""));
    if (c.params_total != null) lines.push("parameters bit-identical: " + c.params_equal + "/"
                                            + c.params_total);
    lines.push("saved with: " + versions(c.save_versions));
    lines.push("loaded with: " + versions(c.load_versions));
    return lines.join("\n");
  }

  // --- share of cells that pass, per format and pair ----------------------------------------
  function passSquare(fmt, sv, ld, group) {
    const applicable = group.filter(c => c.status !== "unsupported");
    const passed = applicable.filter(c => c.status === "pass").length;
    const td = el("td", {class: "sq", "data-format": fmt, "data-save": sv, "data-load": ld,
                         "data-pass": passed, "data-total": applicable.length,
                         onclick: () => showPanel(group, fmt + ": " + sv + " \u2192 " + ld)});
    if (!group.length) { td.className = "sq na"; }
    else if (!applicable.length) { td.className = "sq na"; td.textContent = "n/a"; }
    else {
      td.style.background = shade(passed / applicable.length);
      td.append(passed + "/" + applicable.length,
                el("small", {text: Math.round(100 * passed / applicable.length) + "% pass"}));
    }
    const counts = {};
    for (const c of group) counts[c.status] = (counts[c.status] || 0) + 1;
    const errs = [...new Set(group.map(c => c.summary).filter(Boolean))];
    td.title = fmt + ": " + sv + " \u2192 " + ld + "\n" +
      Object.entries(counts).map(([st, n]) => n + " " + st).join(", ") +
      (errs.length ? "\n\n" + errs.slice(0, 6).join("\n") : "");
    return td;
  }
  // The run's pairs (saved with, loaded with), whatever the filters.
  const PAIRS = [];
  for (const sv of DATA.save) for (const ld of DATA.load)
    if (DATA.cells.some(c => c.save === sv && c.load === ld)) PAIRS.push([sv, ld]);
  const FEW_PAIRS = 8;  // up to this many: one table, a row per format; else a grid per format

  function drawHeatmaps(cells) {
    const box = document.getElementById("heatmaps");
    box.replaceChildren(el("h2", {text: "Share of cells that pass, per format and pair"}));
    const formats = DATA.formats.filter(f => selected.format.has(f) &&
                                             cells.some(c => c.format === f));
    if (!formats.length) {
      box.append(el("p", {class: "empty", text: "No cell matches the filters."}));
      return;
    }
    if (PAIRS.length <= FEW_PAIRS) {
      const table = el("table", {class: "heat"},
        el("tr", {}, el("th", {class: "corner", text: "format"}),
           ...PAIRS.map(([sv, ld]) => el("th", {text: sv + " \u2192 " + ld}))));
      for (const fmt of formats) {
        const mine = cells.filter(c => c.format === fmt);
        table.append(el("tr", {"data-format": fmt}, el("th", {class: "row", text: fmt}),
          ...PAIRS.map(([sv, ld]) => passSquare(fmt, sv, ld,
            mine.filter(c => c.save === sv && c.load === ld)))));
      }
      box.append(el("div", {class: "scroll"}, table));
    } else {
      const wrap = el("div", {class: "hms"});
      for (const fmt of formats) {
        const mine = cells.filter(c => c.format === fmt);
        const table = el("table", {class: "heat"},
          el("tr", {}, el("th", {class: "corner", text: "saved \u2193 loaded \u2192"}),
             ...DATA.load.map(ld => el("th", {text: ld}))));
        for (const sv of DATA.save)
          table.append(el("tr", {}, el("th", {text: sv}), ...DATA.load.map(ld =>
            passSquare(fmt, sv, ld, mine.filter(c => c.save === sv && c.load === ld)))));
        wrap.append(el("div", {class: "hm scroll", "data-format": fmt},
                       el("h3", {text: fmt}), table));
      }
      box.append(wrap);
    }
    const legend = el("div", {class: "legend"});
    for (const st of STATUSES)
      legend.append(el("span", {text: st, style: "--c: var(--" + st + ")"}));
    legend.append(el("span", {text: "training: loads and predicts the same; training cannot " +
      "resume (optimizer state lost or fit() raises)", style: "--c: var(--training)"}));
    box.append(el("p", {class: "hint", text: "Squares: share of cells (models \u00d7 loaders) " +
      "that pass, unsupported cells left out; click one for its cells. Cells below are " +
      "coloured by status:"}), legend);
  }

  // --- every cell, a collapsible block per format --------------------------------------------
  const OPEN_UP_TO = 150;  // visible cells up to this many (or one format): blocks start open
  const opened = {};  // format -> the reader's own open/closed choice
  function drawGrids(cells) {
    const box = document.getElementById("grids");
    box.replaceChildren();
    const dirs = PAIRS.filter(([sv, ld]) => cells.some(c => c.save === sv && c.load === ld));
    const oneFormat = new Set(cells.map(c => c.format)).size === 1;
    for (const fmt of DATA.formats) {
      const mine = cells.filter(c => c.format === fmt);
      if (!mine.length) continue;
      const table = el("table", {class: "grid", "data-format": fmt});
      const head = el("tr", {}, el("th", {text: "model"}), el("th", {text: "loader"}));
      for (const [sv, ld] of dirs) head.append(el("th", {text: sv + " \u2192 " + ld}));
      table.append(head);
      for (const model of DATA.models) {
        const loaders = DATA.loaders.filter(
          l => mine.some(c => c.model === model && c.loader === l));
        loaders.forEach((loader, i) => {
          const row = el("tr", {"data-model": model, id: i === 0 ? "row-" + fmt + "-" + model
                                                                 : null},
            el("td", {class: "rowhead model", text: i === 0 ? model : ""}),
            el("td", {class: "rowhead", text: loader}));
          for (const [sv, ld] of dirs) {
            const c = mine.find(x => x.model === model && x.loader === loader &&
                                     x.save === sv && x.load === ld);
            if (!c) { row.append(el("td")); continue; }
            const training = c.kind === "training";  // loads and predicts the same
            const text = training ? "training" : c.status;
            const td = el("td", {class: "cell s-" + (training ? "training" : c.status),
                                 "data-id": c.id,
                                 "data-model": c.model, "data-format": c.format,
                                 "data-loader": c.loader, "data-status": c.status,
                                 onclick: () => { showPanel([c], null); writeHash(c.id); }},
                          text);
            if ((c.status === "pass" || c.status === "mismatch") && c.max_abs_diff != null)
              td.append(el("span", {class: "err", text: "|\u0394| " + num(c.max_abs_diff)}));
            else if (c.status !== "pass" && c.status !== "unsupported" && c.summary)
              td.append(el("span", {class: "err", text: c.error_type || c.summary}));
            td.title = tooltip(c);
            row.append(td);
          }
          table.append(row);
        });
      }
      const counts = {};
      for (const c of mine) counts[c.status] = (counts[c.status] || 0) + 1;
      const block = el("details", {class: "fmt-block", id: "grid-" + fmt, "data-format": fmt},
        el("summary", {}, el("h3", {text: fmt}), el("span", {class: "counts", text:
          mine.length + " cells: " + STATUSES.filter(st => counts[st])
            .map(st => counts[st] + " " + st).join(", ")})),
        el("div", {class: "scroll"}, table));
      block.open = fmt in opened ? opened[fmt] : cells.length <= OPEN_UP_TO || oneFormat;
      block.addEventListener("toggle", () => { opened[fmt] = block.open; });
      box.append(block);
    }
    if (!box.children.length)
      box.append(el("p", {class: "empty", text: "No cell matches the filters."}));
  }
  // An overview square's link: its format's block opened, the model's rows shown and marked.
  function revealCells(fmt, model) {
    const block = document.getElementById("grid-" + fmt);
    if (!block) return;
    opened[fmt] = true;
    block.open = true;
    for (const r of document.querySelectorAll("#grids tr.hit")) r.classList.remove("hit");
    const rows = block.querySelectorAll('tr[data-model="' + model + '"]');
    for (const r of rows) r.classList.add("hit");
    (rows[0] || block).scrollIntoView({block: "start"});
  }

  function detail(c) {
    const dl = el("dl");
    const add = (k, v) => { if (v !== null && v !== undefined && v !== "")
      dl.append(el("dt", {text: k}), el("dd", {text: String(v)})); };
    add("saved with", c.save + " (" + versions(c.save_versions) + ")");
    add("loaded with", c.load + " (" + versions(c.load_versions) + ")");
    add("on-disk format", c.on_disk_format);
    if (c.params_total != null)
      add("parameters", c.params_equal + "/" + c.params_total + " bit-identical" +
          (c.params_missing ? ", " + c.params_missing + " missing" : "") +
          (c.params_extra ? ", " + c.params_extra + " extra" : "") +
          (c.params_value ? ", " + c.params_value + " differ in value" : ""));
    add("max |diff|", num(c.max_abs_diff));
    add("max rel diff", num(c.max_rel_diff));
    add("max ULP", num(c.max_ulp));
    if (c.rtol != null) add("tolerance", "rtol " + c.rtol + ", atol " + c.atol);
    add("seconds", c.seconds != null ? c.seconds.toFixed(2) : null);
    if (c.differs && c.differs.length) add("differs", c.differs.join(", "));
    const box = el("div", {class: "detail", "data-id": c.id},
      el("div", {}, el("span", {class: "status s-" + c.status, text: c.status}), " ",
         el("b", {text: c.model}), " / " + c.format + " / ", el("code", {text: c.loader})), dl);
    if (c.error) box.append(el("pre", {text: (c.error_type ? c.error_type + ": " : "") + c.error}));
    if (c.param_diffs && (c.param_diffs.length === undefined || c.param_diffs.length))
      box.append(el("pre", {text: "parameter differences:\n" +
      JSON.stringify(c.param_diffs, null, 1)}));
    if (c.notes && Object.keys(c.notes).length)
      box.append(el("pre", {text: "notes: " + JSON.stringify(c.notes, null, 1)}));
    return box;
  }

  function showPanel(cells, title) {
    const panel = document.getElementById("panel");
    const body = document.getElementById("panel-body");
    body.replaceChildren();
    if (title) body.append(el("h3", {text: title}));
    for (const c of cells) body.append(detail(c));
    panel.hidden = false;
  }

  // --- the upgrade picker: verdict first, then the model x format overview, then each loader
  // that does not simply keep working and what works instead
  function codeText(text) {
    const span = el("span");
    text.split("`").forEach((part, i) => span.append(i % 2 ? el("code", {text: part}) : part));
    return span;
  }
  const RAW = new Set(DATA.raw_readers);  // read values, not a model
  const RANK = {pass: 0, training: 1, values: 2, error: 3};
  const GLYPH = {pass: "\u2713", training: "T", values: "\u2260", error: "\u2717"};
  const KIND_WORDS = {pass: "passes", training: "loads and predicts the same, training cannot " +
    "resume", values: "loads, parameters or predictions differ", error: "raises"};
  let verdictFull = false;
  const MAIN_LINES = 9;  // verdict lines on the first screen, above the overview

  function drawVerdict(u) {
    const box = document.getElementById("verdict");
    box.replaceChildren();
    box.classList.toggle("full", verdictFull);
    // a line naming loaders is shown while one of them is selected; the counts are the run's
    const named = line => [...line.matchAll(/`([^`]+)`/g)].map(m => m[1])
                                .filter(x => DATA.loaders.includes(x));
    let hidden = 0, more = 0, shown = 0, last = null;
    u.verdict.forEach((line, i) => {
      const text = line.trim();
      if (i === 0) { box.append(el("p", {class: "head"}, codeText(text))); return; }
      const names = named(text);
      if (line.startsWith("    ") && last) {  // the rest of the line above (wrapped per format)
        last.append(" ", codeText(text));
        last.title += " " + text.replace(/`/g, "");
        return;
      }
      if (names.length && !names.some(n => selected.loader.has(n))) {
        hidden++; last = null; return;
      }
      // first: what keeps working and what breaks, up to MAIN_LINES (the overview below shows
      // every square); the rest (raw readers, what already fails, the fixes, which the table
      // below gives per loader) behind "the whole verdict"
      const main = shown < MAIN_LINES &&
        /^(keep working|breaks|pass|fail|no \S+ -> \S+ cells):?/.test(text);
      if (main) shown++; else more++;
      const p = el("p", {class: "line" + (main ? "" : " more")}, codeText(text));
      p.title = text.replace(/`/g, "");
      box.append(p);
      last = p;
    });
    for (const line of u.legacy)
      if (line) box.append(el("p", {class: "legacy more"}, codeText(line)));
    const narrowed = AXES.some(axis => selected[axis].size !== DATA[axis + "s"].length);
    if (hidden) box.append(el("p", {class: "note", text: hidden + " line(s) about loaders the " +
      "filters leave out are hidden; the counts in the first line are the whole run's."}));
    else if (narrowed) box.append(el("p", {class: "note", text: "The verdict's lines are the " +
      "whole run's (every model and format); the filters narrow everything below it."}));
    box.append(el("p", {}, el("button", {class: "toggle", text: verdictFull
      ? "show less" : "show the whole verdict" + (more ? " (" + more + " more lines: what " +
        "already fails, what still reads, the fixes)" : ""),
      onclick: () => { verdictFull = !verdictFull; drawVerdict(u); }})));
  }

  function overviewSquare(key, fmt, model, cells, changes) {
    const [sv, ld] = key.split(" -> ");
    const models = cells.filter(c => !RAW.has(c.loader));
    const applicable = models.filter(c => c.kind);
    const breaks = models.filter(c => (changes[c.loader] || {})[model] === "breaks");
    let kind = "none", text = "-";
    if (applicable.length) {
      kind = applicable.map(c => c.kind).reduce((a, b) => RANK[a] <= RANK[b] ? a : b);
      const passed = applicable.filter(c => c.kind === "pass").length;
      text = GLYPH[kind] + " " + passed + "/" + applicable.length;
    } else if (models.some(c => c.status === "save-error")) {
      kind = "save-error"; text = "S";
    }
    const a = el("a", {class: "ov k-" + kind + (breaks.length ? " brk" : ""),
                       href: "#grid-" + fmt, "data-format": fmt, "data-model": model,
                       "data-kind": kind, "data-breaks": breaks.length,
                       onclick: e => { e.preventDefault(); revealCells(fmt, model); }}, text);
    a.title = model + " / " + fmt + ", " + sv + " \u2192 " + ld + "\n" + cells.map(c =>
      c.loader + ": " + (c.kind ? KIND_WORDS[c.kind] : c.status) +
      ((changes[c.loader] || {})[model] === "breaks" ? " (breaks: passed under " + sv +
        " \u2192 " + sv + ")" : "")).join("\n") + "\n(click: its cells)";
    return el("td", {}, a);
  }
  function drawOverview(key, u) {
    const box = document.getElementById("overview");
    box.replaceChildren();
    const [sv, ld] = key.split(" -> ");
    const mine = DATA.cells.filter(c => c.save === sv && c.load === ld && visible(c));
    const formats = DATA.formats.filter(f => mine.some(c => c.format === f));
    const models = DATA.models.filter(m => mine.some(c => c.model === m));
    box.append(el("h2", {text: "Model \u00d7 format, " + sv + " \u2192 " + ld}));
    if (!mine.length) {
      box.append(el("p", {class: "empty", text: "No cell of " + sv + " \u2192 " + ld +
                          " matches the filters."}));
      return;
    }
    const table = el("table", {class: "overview"},
      el("tr", {}, el("th", {class: "corner", text: "format \\ model"}),
         ...models.map(m => el("th", {text: m}))));
    for (const fmt of formats) {
      const row = el("tr", {"data-format": fmt}, el("th", {class: "row", text: fmt}));
      for (const m of models) {
        const cells = mine.filter(c => c.format === fmt && c.model === m);
        row.append(cells.length ? overviewSquare(key, fmt, m, cells, u.changes[fmt] || {})
                                : el("td"));
      }
      table.append(row);
    }
    box.append(el("div", {class: "scroll"}, table));
    const legend = el("div", {class: "legend"});
    for (const [word, colour] of [["\u2713 passes", "pass"],
        ["T at best: training cannot resume", "training"], ["\u2260 at best: differs", "mismatch"],
        ["\u2717 raises", "load-error"], ["S not saved", "save-error"],
        ["- no loader applies", "unsupported"]])
      legend.append(el("span", {text: word, style: "--c: var(--" + colour + ")"}));
    box.append(legend, el("p", {class: "hint", text: "A square: the best of the loaders that " +
      "give back a model, k/n of them pass; a dark rim: one that passed under " + sv +
      " \u2192 " + sv + " breaks. Click for its cells."}));
  }

  function fixRow(r, changes) {
    const what = el("td", {class: "what"}, el("div", {},
                    el("span", {class: "tag t-" + r.verdict, text: r.verdict}), " ",
                    el("b", {text: r.format}), " ", el("code", {text: r.loader})),
                    el("div", {class: "text"}, codeText(r.text)));
    for (const e of r.errors) what.append(el("div", {class: "err-line", text: e}));
    const instead = el("td", {class: "instead"});
    for (const x of r.instead) instead.append(el("div", {}, codeText(x)));
    if (!r.instead.length) instead.append(el("span", {class: "hint", text:
      r.verdict === "already" ? "not the upgrade's: it fails the same way before it" :
      r.verdict === "BREAKS" ? "no fix in this run" : "\u2014"}));
    const tr = el("tr", {"data-format": r.format, "data-loader": r.loader}, what, instead);
    what.title = "click: the whole sentence and the errors";
    what.addEventListener("click", () => tr.classList.toggle("open"));
    return tr;
  }
  function drawLoaders(u) {
    const box = document.getElementById("upgrade-loaders");
    box.replaceChildren();
    // a row shows while its format and loader are selected and, of the models it is about
    // (the ones that do not simply keep working), one is
    const shown = u.loaders.filter(r => {
      if (!selected.format.has(r.format) || !selected.loader.has(r.loader)) return false;
      const about = Object.entries((u.changes[r.format] || {})[r.loader] || {})
        .filter(([, ch]) => ch !== "works" && ch !== "n/a").map(([m]) => m);
      return !about.length || about.some(m => selected.model.has(m));
    });
    box.append(el("h2", {text: "Per loader: what happens and what works instead (" +
                         shown.length + " of " + u.loaders.length + " loaders that do not " +
                         "simply keep working)"}));
    if (!shown.length) return;
    const table = el("table", {class: "fixes"},
      el("colgroup", {}, el("col", {style: "width: 52%"}), el("col", {style: "width: 48%"})),
      el("tr", {}, el("th", {text: "format, loader: what happens (click for the errors)"}),
         el("th", {text: "what works instead (the call to paste)"})));
    for (const r of shown) table.append(fixRow(r, u.changes));
    box.append(table);
  }

  function drawUpgrade() {
    const section = document.getElementById("upgrade");
    if (!Object.keys(DATA.upgrades).length) { section.hidden = true; return; }
    const from = document.getElementById("from"), to = document.getElementById("to");
    if (!from.options.length) {
      for (const v of DATA.upgrade_from) from.append(el("option", {value: v, text: v}));
      for (const v of DATA.upgrade_to) to.append(el("option", {value: v, text: v}));
      const pick = () => { upgradeKey = from.value + " -> " + to.value; update(); };
      from.addEventListener("change", pick);
      to.addEventListener("change", pick);
    }
    const key = upgradeKey || Object.keys(DATA.upgrades)[0];
    [from.value, to.value] = key.split(" -> ");
    section.setAttribute("data-upgrade", key);
    const u = DATA.upgrades[key];
    for (const id of ["verdict", "overview", "upgrade-loaders"])
      document.getElementById(id).replaceChildren();
    if (!u) {
      document.getElementById("verdict").append(el("p", {class: "empty", text: "The run has " +
        "no cells saved under " + from.value + " and loaded under " + to.value + "."}));
      return;
    }
    drawVerdict(u);
    drawOverview(key, u);
    drawLoaders(u);
  }

  function update() {
    writeHash();
    const cells = DATA.cells.filter(visible);
    drawFilters(cells);
    drawUpgrade();
    drawHeatmaps(cells);
    drawGrids(cells);
    document.body.setAttribute("data-visible-cells", cells.length);
  }

  function drawMeta() {
    const meta = document.getElementById("meta");
    const counts = {};
    for (const c of DATA.cells) counts[c.status] = (counts[c.status] || 0) + 1;
    meta.append("Run " + DATA.run_id + ", " + DATA.date + " \u00b7 " + DATA.cells.length +
                " cells (" + STATUSES.filter(s => counts[s]).map(s => counts[s] + " " + s)
                  .join(", ") + ") \u00b7 ", el("code", {text: DATA.command}));
    if (DATA.missing)
      meta.after(el("p", {class: "missing", text: "Incomplete: " + DATA.missing}));
    const envs = document.getElementById("envs");
    const keys = ["tf", "keras", "tf_keras", "numpy", "h5py", "protobuf", "python", "device",
                  "backend"].filter(k => DATA.environments.some(e => e[k]));
    const table = el("table", {}, el("tr", {}, el("th", {text: "environment"}),
                                     ...keys.map(k => el("th", {text: k}))));
    for (const e of DATA.environments)
      table.append(el("tr", {}, el("td", {text: e.label}),
                      ...keys.map(k => el("td", {text: e[k] || ""}))));
    envs.append(table);
  }

  document.getElementById("panel-close").addEventListener("click", () => {
    document.getElementById("panel").hidden = true; writeHash();
  });
  const cellId = readHash();
  drawMeta();
  update();
  if (cellId !== null) {
    const c = DATA.cells.find(x => String(x.id) === cellId);
    if (c) { showPanel([c], null); writeHash(c.id); }
  }
  document.body.setAttribute("data-rendered", "yes");
})();
"""
