"""The CSS and JavaScript inlined into report.html (kept here so html.py stays readable).

The script reads the JSON in #run-data and builds everything from it; it uses no library and
no network.  Filters are checkbox groups whose state is mirrored in location.hash."""

PAGE_CSS = r"""
:root { --pass:#2b8a3e; --mismatch:#e8590c; --load-error:#c92a2a; --save-error:#862e9c;
  --crash:#212529; --timeout:#f08c00; --training:#fab005; --unsupported:#ced4da;
  --ink:#212529; --muted:#6c757d;
  --line:#dee2e6; --bg:#f8f9fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: var(--ink); margin: 0; background: #fff; }
header { padding: 18px 28px 8px; border-bottom: 1px solid var(--line); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 26px 0 8px; }
h3 { font-size: 15px; margin: 0 0 6px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.meta { color: var(--muted); margin: 0; }
.meta code { color: var(--ink); background: #e9ecef; padding: 1px 5px; border-radius: 3px; }
main { padding: 0 28px 40px; }
#filters { padding: 10px 28px; border-bottom: 1px solid var(--line); display: flex;
  flex-wrap: wrap; gap: 8px 26px; position: sticky; top: 0; background: #fff; z-index: 2; }
.fgroup { display: flex; flex-wrap: wrap; align-items: center; gap: 4px; }
.fgroup > b { margin-right: 4px; color: var(--muted); font-weight: 600; }
.chip { display: inline-flex; align-items: center; gap: 4px; border: 1px solid var(--line);
  border-radius: 14px; padding: 1px 9px; cursor: pointer; user-select: none; font-size: 12.5px; }
.chip input { margin: 0; }
.chip.off { color: var(--muted); background: var(--bg); text-decoration: line-through; }
.fgroup button { font-size: 12px; border: none; background: none; color: #1c7ed6;
  cursor: pointer; padding: 0 4px; }
#heatmaps { display: flex; flex-wrap: wrap; gap: 18px 30px; margin-top: 14px; }
.hm { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
table { border-collapse: collapse; }
.hm th, .grid th { font-weight: 600; color: var(--muted); font-size: 12px; padding: 3px 8px;
  white-space: nowrap; }
.hm th.corner { text-align: left; font-weight: 400; }
.sq { width: 78px; height: 46px; text-align: center; color: #fff; font-weight: 700;
  border: 2px solid #fff; cursor: pointer; border-radius: 6px; font-size: 13px; }
.sq small { display: block; font-weight: 400; font-size: 11px; opacity: .9; }
.sq.na { background: var(--unsupported); color: var(--muted); }
.sq:hover, td.cell:hover { outline: 2px solid var(--ink); }
.legend { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 10px 0 0; font-size: 12.5px; }
.legend span::before { content: ""; display: inline-block; width: 11px; height: 11px;
  border-radius: 2px; margin-right: 5px; vertical-align: -1px; background: var(--c); }
.hint { color: var(--muted); margin: 0 0 8px; }
.fmt-block { margin: 14px 0 22px; }
.grid td.rowhead { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px;
  padding: 2px 10px 2px 0; white-space: nowrap; }
.grid td.model { font-weight: 600; padding-right: 10px; }
td.cell { width: 124px; min-width: 124px; text-align: center; font-size: 12px; color: #fff;
  cursor: pointer;
  border: 2px solid #fff; padding: 3px 6px; border-radius: 5px; white-space: nowrap; }
td.cell.s-unsupported { color: var(--muted); }
.s-pass { background: var(--pass); } .s-mismatch { background: var(--mismatch); }
.s-training { background: var(--training); }
.s-load-error { background: var(--load-error); } .s-save-error { background: var(--save-error); }
.s-crash { background: var(--crash); } .s-timeout { background: var(--timeout); }
.s-unsupported { background: var(--unsupported); }
td.cell .err { display: block; font-size: 10.5px; opacity: .9; max-width: 190px;
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
#upgrade { padding: 4px 28px 16px; border-bottom: 1px solid var(--line); }
#upgrade h2 { margin: 12px 0 6px; }
.pick select { font: inherit; padding: 1px 4px; margin: 0 4px; }
#verdict { margin: 8px 0; padding: 8px 12px; border-left: 4px solid #1c7ed6;
  background: var(--bg); }
#verdict p { margin: 2px 0; } #verdict p.head { font-weight: 700; font-size: 15px; }
#verdict p.sub { margin-left: 22px; }
#verdict p.legacy { margin-top: 6px; color: #1864ab; }
#upgrade code { background: #e9ecef; padding: 0 4px; border-radius: 3px; font-size: 12.5px; }
table.fixes { margin-top: 8px; }
.fixes th { text-align: left; color: var(--muted); font-size: 12px; padding: 3px 10px 3px 0; }
.fixes td { border-top: 1px solid var(--line); padding: 4px 12px 4px 0; vertical-align: top;
  font-size: 13px; }
.fixes .err-line { color: var(--muted); font-size: 12px; max-width: 520px; }
.tag { display: inline-block; color: #fff; border-radius: 4px; padding: 0 6px; font-size: 12px;
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

  function drawFilters() {
    const box = document.getElementById("filters");
    box.replaceChildren();
    // only the loaders of the formats shown are offered (the others keep their state)
    const shownLoaders = new Set(DATA.cells.filter(c => selected.format.has(c.format))
                                          .map(c => c.loader));
    for (const axis of AXES) {
      const group = el("div", {class: "fgroup", "data-axis": axis}, el("b", {text: axis}));
      for (const value of DATA[axis + "s"]) {
        if (axis === "loader" && !shownLoaders.has(value)) continue;
        const on = selected[axis].has(value);
        const input = el("input", {type: "checkbox", value: value,
          onchange: () => { on ? selected[axis].delete(value) : selected[axis].add(value);
                            update(); }});
        input.checked = on;
        group.append(el("label", {class: "chip" + (on ? "" : " off"), "data-value": value},
                        input, value));
      }
      group.append(el("button", {text: "all", onclick: () => {
        selected[axis] = new Set(DATA[axis + "s"]); update(); }}));
      group.append(el("button", {text: "none", onclick: () => {
        selected[axis] = new Set(); update(); }}));
      box.append(group);
    }
  }

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

  function drawHeatmaps(cells) {
    const box = document.getElementById("heatmaps");
    box.replaceChildren();
    const formats = DATA.formats.filter(f => selected.format.has(f));
    for (const fmt of formats) {
      const mine = cells.filter(c => c.format === fmt);
      const table = el("table", {class: "heat"});
      const head = el("tr", {}, el("th", {class: "corner", text: "saved \u2193 loaded \u2192"}));
      for (const ld of DATA.load) head.append(el("th", {text: ld}));
      table.append(head);
      for (const sv of DATA.save) {
        const row = el("tr", {}, el("th", {text: sv}));
        for (const ld of DATA.load) {
          const group = mine.filter(c => c.save === sv && c.load === ld);
          const applicable = group.filter(c => c.status !== "unsupported");
          const passed = applicable.filter(c => c.status === "pass").length;
          const td = el("td", {class: "sq", "data-format": fmt, "data-save": sv, "data-load": ld,
                               "data-pass": passed, "data-total": applicable.length,
                               onclick: () => showPanel(group, fmt + ": " + sv + " \u2192 " + ld)});
          if (!group.length) { td.className = "sq na"; td.textContent = ""; }
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
            Object.entries(counts).map(([s, n]) => n + " " + s).join(", ") +
            (errs.length ? "\n\n" + errs.slice(0, 6).join("\n") : "");
          row.append(td);
        }
        table.append(row);
      }
      box.append(el("div", {class: "hm", "data-format": fmt}, el("h3", {text: fmt}), table));
    }
    if (!formats.length || !cells.length)
      box.append(el("p", {class: "empty", text: "No cell matches the filters."}));
    const legend = el("div", {class: "legend"});
    for (const s of STATUSES) legend.append(el("span", {text: s, style: "--c: var(--" + s + ")"}));
    legend.append(el("span", {text: "training: loads and predicts the same; training cannot " +
      "resume (optimizer state lost or fit() raises)", style: "--c: var(--training)"}));
    box.append(el("div", {style: "flex-basis: 100%"},
      el("p", {class: "hint", text: "Squares: share of cells (models \u00d7 loaders) that pass, " +
        "unsupported cells left out. Cells below are coloured by status:"}), legend));
  }

  function drawGrids(cells) {
    const box = document.getElementById("grids");
    box.replaceChildren();
    const dirs = [];
    for (const sv of DATA.save) for (const ld of DATA.load)
      if (cells.some(c => c.save === sv && c.load === ld)) dirs.push([sv, ld]);
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
          const row = el("tr", {},
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
      box.append(el("div", {class: "fmt-block"}, el("h3", {text: fmt}), table));
    }
    if (!box.children.length)
      box.append(el("p", {class: "empty", text: "No cell matches the filters."}));
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

  // --- the upgrade picker: verdict first, then each loader that breaks and what works instead
  function codeText(text) {
    const span = el("span");
    text.split("`").forEach((part, i) => span.append(i % 2 ? el("code", {text: part}) : part));
    return span;
  }
  function fixRow(r) {
    const what = el("td", {}, codeText(r.text));
    for (const e of r.errors) what.append(el("div", {class: "err-line", text: e}));
    const instead = el("td", {});
    for (const x of r.instead) instead.append(el("div", {}, codeText(x)));
    return el("tr", {"data-format": r.format, "data-loader": r.loader},
              el("td", {text: r.format}), el("td", {}, el("code", {text: r.loader})),
              el("td", {}, el("span", {class: "tag t-" + r.verdict, text: r.verdict})),
              what, instead);
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
    const verdict = document.getElementById("verdict");
    const loaders = document.getElementById("upgrade-loaders");
    verdict.replaceChildren(); loaders.replaceChildren();
    section.setAttribute("data-upgrade", key);
    const u = DATA.upgrades[key];
    if (!u) {
      verdict.append(el("p", {class: "empty", text: "The run has no cells saved under " +
                              from.value + " and loaded under " + to.value + "."}));
      return;
    }
    u.verdict.forEach((line, i) =>
      verdict.append(el("p", {class: i ? (line.startsWith("    ") ? "line sub" : "line")
                                         : "head"}, codeText(line.trim()))));
    for (const line of u.legacy) verdict.append(el("p", {class: "legacy"}, codeText(line)));
    if (!u.loaders.length) return;
    const head = ["format", "loader", "", "what happens", "what works instead"];
    const table = el("table", {class: "fixes"},
                     el("tr", {}, ...head.map(h => el("th", {text: h}))));
    for (const r of u.loaders) table.append(fixRow(r));
    loaders.append(table);
  }

  function update() {
    writeHash();
    drawUpgrade();
    drawFilters();
    const cells = DATA.cells.filter(visible);
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
