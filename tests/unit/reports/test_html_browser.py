"""report.html in a real headless browser: its script draws every cell and the heatmaps, the
filters (read from the URL fragment, as a link to a filtered view would set them) hide what
they should in every part below them, a cell's details open, a screenshot shows the colours,
and at 1000 px the page has no horizontal scroll and shows the verdict and the model x format
overview on its first screen (measured through an iframe of that size).  Skips, saying why,
where no Chromium is installed (Debian: apt-get install chromium)."""

from __future__ import annotations

import ast
import html
import json
import re
import shutil
import subprocess

import pytest
from support.runs import full_size_run, make_run, pasteable, sample_rows

from harness.reports import write_reports
from harness.results.view import RunView

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def browser():
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no headless browser: none of {', '.join(BROWSERS)} is on PATH "
                "(Debian/Ubuntu: apt-get install chromium)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    run = make_run(tmp)
    (path,) = write_reports(run, tmp / "out", ["html"])
    return run, path


def chrome(browser, *args, tmp) -> subprocess.CompletedProcess:
    # --no-sandbox: CI containers run as root; a fresh profile keeps runs independent.
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-extensions", f"--user-data-dir={tmp / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def dom(browser, url: str, tmp) -> str:
    proc = chrome(browser, "--dump-dom", url, tmp=tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def cells_in(dom_text: str) -> list[dict]:
    found = []
    for m in re.finditer(r'<td class="cell s-([\w-]+)" ([^>]*)>', dom_text):
        attrs = dict(re.findall(r'data-([\w-]+)="([^"]*)"', m.group(2)))
        found.append({"status": m.group(1), **{k: html.unescape(v) for k, v in attrs.items()}})
    return found


def squares_in(dom_text: str) -> dict[tuple, tuple[int, int]]:
    out = {}
    for m in re.finditer(r'<td class="sq[^"]*" ([^>]*)>', dom_text):
        a = dict(re.findall(r'data-([\w-]+)="([^"]*)"', m.group(1)))
        out[(a["format"], a["save"], a["load"])] = (int(a["pass"]), int(a["total"]))
    return out


def test_script_draws_every_cell_and_the_heatmaps(browser, page, tmp_path):
    run, path = page
    text = dom(browser, path.as_uri(), tmp_path)
    assert 'data-rendered="yes"' in text
    cells = cells_in(text)
    assert len(cells) == len(sample_rows())
    want = sorted((r["model"], r["format"], r["loader"], r["status"]) for r in sample_rows())
    assert sorted((c["model"], c["format"], c["loader"], c["status"]) for c in cells) == want
    # the page's own aggregation agrees with the Python one the Markdown uses
    view = RunView(run)
    expected = {(fmt, s[0], ld[0]): (g.passed, g.total)
                for fmt in view.formats for (s0, sd, l0, lod), g in view.groups(fmt).items()
                for s, ld in [((s0, sd), (l0, lod))]}
    assert squares_in(text) == expected
    assert "tf 2.16.2, keras 3.15.1" in text  # versions in the hover text


PROBE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="{url}" style="width:{width}px;height:{height}px;border:0"></iframe>
<script>
document.getElementById("f").addEventListener("load", function () {{
  const d = this.contentDocument, e = d.documentElement;
  const box = id => {{ const el = d.getElementById(id);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return {{top: Math.round(r.top), bottom: Math.round(r.bottom)}}; }};
  document.body.setAttribute("data-measured", JSON.stringify({{
    rendered: d.body.getAttribute("data-rendered"), scrollWidth: e.scrollWidth,
    clientWidth: e.clientWidth, height: e.scrollHeight, verdict: box("verdict"),
    overview: box("overview"), squares: d.querySelectorAll("#overview a.ov").length,
    ...(function () {{ {action} }})()}}));
}});
</script></body></html>"""


def measure(browser, url: str, tmp, width: int = 1000, height: int = 900,
            action: str = "return {};") -> dict:
    """The page laid out in a frame of width x height px (its viewport): scroll width against
    client width, full height, where the verdict and the overview sit, and what `action` (the
    body of a function of `d`, the page's document) returns.  The frame reads its page's DOM,
    which file:// allows only with --allow-file-access-from-files."""
    probe = tmp / "probe.html"
    probe.write_text(PROBE.format(url=url, width=width, height=height, action=action))
    proc = chrome(browser, "--allow-file-access-from-files", "--dump-dom", probe.as_uri(),
                  tmp=tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = re.search(r'data-measured="([^"]*)"', proc.stdout)
    assert m, "the probe measured nothing: " + proc.stdout[-500:]
    out = json.loads(html.unescape(m.group(1)))
    assert out["rendered"] == "yes"
    return out


def overview_in(dom_text: str) -> dict[tuple[str, str], dict]:
    section = dom_text.split('<div id="overview"', 1)[1].split('<div id="upgrade-loaders"')[0]
    out = {}
    for m in re.finditer(r'<a class="ov ([^"]*)" ([^>]*)>([^<]*)</a>', section):
        a = dict(re.findall(r'data-([\w-]+)="([^"]*)"', m.group(2)))
        href = re.search(r'href="([^"]*)"', m.group(2)).group(1)
        out[(a["format"], a["model"])] = {"kind": a["kind"], "breaks": int(a["breaks"]),
                                          "text": html.unescape(m.group(3)), "href": href,
                                          "class": m.group(1)}
    return out


@pytest.fixture(scope="module")
def full_page(tmp_path_factory):
    """Every format, loader and zoo model, 2.12 -> 2.12 and 2.12 -> 2.16: the quick start's
    size and names (tests/test_html_report.py full_size_rows)."""
    tmp = tmp_path_factory.mktemp("html-full")
    (path,) = write_reports(full_size_run(tmp), tmp / "out", ["html"])
    return path


@pytest.mark.parametrize("fragment", ["", "#format=h5,keras-v3&model=mlp"])
def test_at_1000px_no_horizontal_scroll_and_the_overview_on_the_first_screen(
        browser, full_page, tmp_path, fragment):
    m = measure(browser, full_page.as_uri() + fragment, tmp_path)
    assert m["scrollWidth"] <= m["clientWidth"], m  # nothing wider than the window
    assert m["overview"] and m["squares"] > 0, m
    assert m["verdict"]["top"] < m["overview"]["top"] < m["overview"]["bottom"] <= 900, m
    print(f"1000 px{fragment}: scrollWidth {m['scrollWidth']} of {m['clientWidth']}, "
          f"height {m['height']}, overview {m['overview']}")


@pytest.mark.parametrize("axis", ["model", "format", "loader"])
def test_at_1000px_an_open_filter_stays_in_the_window(browser, full_page, tmp_path, axis):
    action = f"""
      d.querySelector('details.fdrop[data-axis="{axis}"]').open = true;
      const r = d.querySelector('details.fdrop[data-axis="{axis}"] .fgroup')
                 .getBoundingClientRect();
      return {{openScrollWidth: d.documentElement.scrollWidth, left: Math.round(r.left),
              right: Math.round(r.right), chips: d.querySelectorAll(
                'details.fdrop[data-axis="{axis}"] label.chip').length}};"""
    m = measure(browser, full_page.as_uri(), tmp_path, action=action)
    assert m["openScrollWidth"] <= m["clientWidth"], m
    assert 0 <= m["left"] < m["right"] <= m["clientWidth"], m
    assert m["chips"] == {"model": 13, "format": 14, "loader": 25}[axis], m


def test_at_1000px_a_wide_run_scrolls_in_its_tables_not_the_page(browser, tmp_path):
    # ten load versions: the per-cell table and heatmaps are wider than the window
    loads = ("2.12", "2.13", "2.14", "2.15", "2.16", "2.17", "2.18", "2.19", "2.20", "2.21")
    run = full_size_run(tmp_path / "wide", loads, formats=["h5", "savedmodel"])
    (path,) = write_reports(run, tmp_path / "out", ["html"])
    m = measure(browser, path.as_uri() + "#format=h5", tmp_path)
    assert m["scrollWidth"] <= m["clientWidth"], m
    assert m["squares"] == 13, m  # h5 x the 13 zoo models


def test_the_overview_has_a_square_per_model_and_format(browser, page, tmp_path):
    _, path = page
    text = dom(browser, path.as_uri(), tmp_path)
    ov = overview_in(text)
    assert set(ov) == {(f, m) for f in ("savedmodel", "tf-checkpoint", "h5")
                       for m in ("mlp", "cnn")}
    # the best a loader that gives back a model does (the raw reader left out), 2.12 -> 2.16
    assert ov[("savedmodel", "mlp")]["kind"] == "pass"
    assert ov[("savedmodel", "mlp")]["breaks"] == 0  # load_model fails under 2.12 already
    assert ov[("tf-checkpoint", "mlp")]["kind"] == "values"
    assert ov[("tf-checkpoint", "mlp")]["text"] == "\u2260 0/1"
    assert ov[("h5", "cnn")] | {"href": None} == {"kind": "error", "breaks": 1,
                                                  "text": "\u2717 0/1", "href": None,
                                                  "class": "k-error brk"}
    assert ov[("h5", "mlp")]["kind"] == "pass" and ov[("h5", "mlp")]["breaks"] == 0
    # each square links to its format's block of cells, where its model's rows are
    for (fmt, model), sq in ov.items():
        assert sq["href"] == f"#grid-{fmt}"
        block = text.split(f'id="grid-{fmt}"', 1)[1].split("</details>", 1)[0]
        assert f'id="row-{fmt}-{model}"' in block


def test_a_square_of_the_overview_opens_its_cells(browser, full_page, tmp_path):
    # a full-size run starts with every block of cells closed; a click on keras-v3 / rnn
    # opens that block, marks rnn's rows and scrolls them into the window
    action = """
      const before = d.getElementById("grid-keras-v3").open;
      d.querySelector('#overview a.ov[data-format="keras-v3"][data-model="rnn"]').click();
      const row = d.getElementById("row-keras-v3-rnn").getBoundingClientRect();
      const hit = [...d.querySelectorAll("#grids tr.hit")];
      return {before: before, after: d.getElementById("grid-keras-v3").open,
              rowTop: Math.round(row.top), hits: hit.length,
              hitModels: [...new Set(hit.map(r => r.dataset.model))],
              hitFormats: [...new Set(hit.map(r => r.closest("details").dataset.format))]};"""
    m = measure(browser, full_page.as_uri(), tmp_path, action=action)
    assert m["before"] is False and m["after"] is True, m
    assert 0 <= m["rowTop"] < 900, m
    assert m["hitModels"] == ["rnn"] and m["hitFormats"] == ["keras-v3"], m
    assert m["hits"] == 6, m  # keras-v3: the five load_model calls and h5py.File


def test_filters_apply_to_the_overview_and_the_advice_too(browser, page, tmp_path):
    _, path = page
    text = dom(browser, path.as_uri() + "#format=h5,tf-checkpoint&model=mlp", tmp_path)
    assert set(overview_in(text)) == {("h5", "mlp"), ("tf-checkpoint", "mlp")}
    section = text.split('<div id="upgrade-loaders"', 1)[1].split("</section>", 1)[0]
    rows = set(re.findall(r'<tr data-format="([^"]+)" data-loader="([^"]+)">', section))
    # h5's load_model breaks for cnn alone: with only mlp ticked, its advice row goes
    assert rows == {("tf-checkpoint", "tf.train.Checkpoint.restore")}
    # the verdict's lines about loaders left out are hidden, and it says so
    text = html.unescape(dom(browser, path.as_uri() + "#loader=keras.models.load_model",
                             tmp_path))
    verdict_box = text.split('<div id="verdict"', 1)[1].split('<div id="overview"', 1)[0]
    assert "tf.train.Checkpoint.restore</code> (tf-checkpoint" not in verdict_box
    assert "keras.models.load_model</code> (h5" in verdict_box
    assert "line(s) about loaders the filters leave out are hidden" in verdict_box
    # a model filter hides no verdict line, and the verdict says whose lines they are
    text = html.unescape(dom(browser, path.as_uri() + "#model=mlp", tmp_path))
    verdict_box = text.split('<div id="verdict"', 1)[1].split('<div id="overview"', 1)[0]
    assert "The verdict's lines are the whole run's" in verdict_box


def test_one_format_shows_its_cells_open(browser, full_page, tmp_path):
    text = dom(browser, full_page.as_uri() + "#format=h5", tmp_path)
    assert re.search(r'<details class="fmt-block" id="grid-h5" data-format="h5" open="">', text)
    text = dom(browser, full_page.as_uri(), tmp_path)  # 1326 cells: every block closed
    assert not re.search(r'<details class="fmt-block"[^>]* open=""', text)


def test_every_call_the_advice_shows_is_python_to_paste(browser, full_page, tmp_path):
    text = dom(browser, full_page.as_uri(), tmp_path)
    section = text.split('<div id="upgrade-loaders"', 1)[1].split("</section>", 1)[0]
    calls = [html.unescape(c) for cell in re.findall(r'<td class="instead">(.*?)</td>', section,
                                                     re.S)
             for c in re.findall(r"<code>(.*?)</code>", cell)]
    assert len(calls) > 10
    for c in calls:
        assert pasteable(c), c
    assert any(isinstance(n, ast.Call) for c in calls for n in ast.walk(ast.parse(c)))


def test_filters_in_the_url_hide_the_other_cells(browser, page, tmp_path):
    _, path = page
    text = dom(browser, path.as_uri() + "#model=mlp&format=h5,tf-checkpoint", tmp_path)
    cells = cells_in(text)
    want = [r for r in sample_rows() if r["model"] == "mlp"
            and r["format"] in ("h5", "tf-checkpoint")]
    assert len(cells) == len(want) > 0
    assert {c["model"] for c in cells} == {"mlp"}
    assert {c["format"] for c in cells} == {"h5", "tf-checkpoint"}
    assert set(squares_in(text)) == {(f, s, ld) for f in ("h5", "tf-checkpoint")
                                     for s in ("2.12", "2.16") for ld in ("2.12", "2.16")}
    # the unticked chips say so
    assert re.search(r'<label class="chip off" data-value="cnn">', text)
    assert re.search(r'<label class="chip" data-value="mlp">', text)
    # only the loaders of the formats shown are offered
    offered = set(re.findall(r'<div class="fgroup" data-axis="loader">(.*?)</div>', text,
                             re.S)[0].split('data-value="')[1:])
    offered = {html.unescape(v.split('"', 1)[0]) for v in offered}
    assert offered == {r["loader"] for r in want}
    # nothing selected: an explicit message, no cells
    empty = dom(browser, path.as_uri() + "#loader=", tmp_path)
    assert cells_in(empty) == [] and "No cell matches the filters." in empty


def test_a_cell_opens_with_its_error_and_versions(browser, page, tmp_path):
    _, path = page
    rows = sample_rows()
    i = next(i for i, r in enumerate(rows) if r["status"] == "load-error"
             and r["format"] == "h5")
    text = dom(browser, path.as_uri() + f"#cell={i}", tmp_path)
    panel = text.split('<aside id="panel"', 1)[1].split("</aside>", 1)[0]
    assert "hidden" not in panel.split(">", 1)[0]
    assert f'data-id="{i}"' in panel
    assert "TypeError: Unrecognized keyword arguments: ['batch_shape', 'optional']" in \
        html.unescape(panel)
    assert "tf 2.16.2, keras 3.15.1" in panel and "tf 2.12.1, keras 2.12.0" in panel


def test_screenshot_shows_the_status_colours(browser, page, tmp_path):
    matplotlib_image = pytest.importorskip("matplotlib.image",
                                           reason="reading the screenshot needs matplotlib")
    _, path = page
    shot = tmp_path / "report.png"
    # tall enough for the verdict and every cell of the sample below it
    proc = chrome(browser, "--hide-scrollbars", "--window-size=1400,2600",
                  f"--screenshot={shot}", path.as_uri(), tmp=tmp_path)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    px = (matplotlib_image.imread(shot)[..., :3] * 255).round().astype(int)
    colours = {"pass": (43, 138, 62), "load-error": (201, 42, 42), "mismatch": (232, 89, 12),
               "unsupported": (206, 212, 218)}
    for name, rgb in colours.items():
        hits = (abs(px - rgb).sum(axis=-1) <= 6).sum()
        assert hits > 400, f"{name} {rgb}: {hits} pixels"


def test_the_page_opens_with_the_verdict_and_picks_any_upgrade(browser, page, tmp_path):
    _, path = page
    text = html.unescape(dom(browser, path.as_uri(), tmp_path))
    section = text.split('<section id="upgrade"', 1)[1].split("</section>", 1)[0]
    assert 'data-upgrade="2.12 -&gt; 2.16"' in section or 'data-upgrade="2.12 -> 2.16"' in section
    # the verdict comes before the heatmaps, and names what breaks and the fix the run shows
    assert text.index('id="verdict"') < text.index('id="heatmaps"')
    assert "Upgrade TF 2.12 (tf 2.12.1, keras 2.12.0) -&gt; TF 2.16" in section or \
        "Upgrade TF 2.12 (tf 2.12.1, keras 2.12.0) -> TF 2.16" in section
    assert "tf.train.Checkpoint.restore</code> (tf-checkpoint: silently wrong for mlp, cnn" \
        in section
    rows = re.findall(r'<tr data-format="([^"]+)" data-loader="([^"]+)">', section)
    assert ("h5", "keras.models.load_model") in rows
    assert ("tf-checkpoint", "tf.train.Checkpoint.restore") in rows
    # another pair through the URL, as a link to it would set it
    back = html.unescape(dom(browser, path.as_uri() + "#from=2.16&to=2.12", tmp_path))
    section = back.split('<section id="upgrade"', 1)[1].split("</section>", 1)[0]
    assert "Downgrade TF 2.16" in section.replace("&gt;", ">")
    assert '<option value="2.16">' in section


def test_screenshot_of_the_verdict_at_the_top(browser, page, tmp_path):
    matplotlib_image = pytest.importorskip("matplotlib.image",
                                           reason="reading the screenshot needs matplotlib")
    _, path = page
    shot = path.parent / "report-top.png"  # kept beside the report, in the test's output folder
    proc = chrome(browser, "--hide-scrollbars", "--window-size=1400,900",
                  f"--screenshot={shot}", path.as_uri(), tmp=tmp_path)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    px = (matplotlib_image.imread(shot)[..., :3] * 255).round().astype(int)
    # the verdict box's blue rule and the red BREAKS tag are on the first screen
    for name, rgb in {"verdict rule": (28, 126, 214), "BREAKS tag": (201, 42, 42)}.items():
        hits = (abs(px - rgb).sum(axis=-1) <= 6).sum()
        assert hits > 100, f"{name} {rgb}: {hits} pixels"
    print(f"screenshot: {shot}")
