"""report.html's payload and heatmap.png, without a browser (tests/test_html_browser.py opens the
page): the overview's per-model verdicts are verdict.py's, every fix the page prints is Python a
user can paste, and the PNG carries a colour scale and a title nothing cuts off."""

from __future__ import annotations

import re

import pytest
from support.runs import CODE, full_size_run, make_run, pasteable, sample_rows

from harness.reports import html, write_reports
from harness.results.view import RunView


def test_the_overview_marks_what_verdict_calls_a_break(tmp_path):
    view = RunView(make_run(tmp_path))
    changes = html.changes(view, "2.12", "2.16")
    # h5 keras.models.load_model: cnn passes 2.12 -> 2.12 and raises 2.12 -> 2.16
    assert changes["h5"]["keras.models.load_model"] == {"cnn": "breaks"}  # mlp keeps working
    # already fails under 2.12 itself: not the upgrade's
    assert set(changes["savedmodel"]["keras.models.load_model"].values()) == {"already"}
    assert set(changes["tf-checkpoint"]["tf.train.Checkpoint.restore"].values()) == {"breaks"}
    data = html.payload(view)
    assert data["upgrades"]["2.12 -> 2.16"]["changes"] == changes
    assert data["raw_readers"] == ["h5py.File", "tf.train.load_checkpoint"]


def test_every_fix_the_page_prints_is_python_to_paste(tmp_path):
    data = html.payload(RunView(full_size_run(tmp_path)))
    calls = [c for u in data["upgrades"].values() for r in u["loaders"]
             for line in r["instead"] for c in CODE.findall(line)]
    calls += [c for u in data["upgrades"].values() for line in u["verdict"]
              if line.strip().startswith("fix for") for c in CODE.findall(line.split(":", 1)[1])]
    assert calls, "the full-size run has fixes to offer"
    for c in calls:
        assert pasteable(c), c
        assert not re.search(r"\w\[[a-z_]+(=[\w>]+)?(,[a-z_]+)*\]", c), f"bracket notation: {c}"


@pytest.mark.parametrize("loads,formats", [(("2.12", "2.16"), None), (("2.12",), None),
                                           (("2.12",), ["h5"])],
                         ids=["two-pairs", "one-pair", "one-pair-one-format"])
def test_the_png_has_a_colour_scale_and_an_uncut_title(tmp_path, loads, formats):
    pytest.importorskip("matplotlib", reason="the PNG heatmap needs matplotlib")
    import matplotlib.image

    run = full_size_run(tmp_path, loads, formats)  # a long run id, narrow panels: a long title
    (png,) = write_reports(run, tmp_path / "out", ["png"])
    px = (matplotlib.image.imread(png)[..., :3] * 255).round().astype(int)
    white = (px >= 250).all(axis=-1)
    # nothing touches an edge of the image: the title (its widest line) is not cut off
    assert white[:, :3].all() and white[:, -3:].all(), "something is cut at a side"
    assert white[:3].all() and white[-3:].all(), "something is cut at the top or bottom"
    if loads == ("2.12",):
        # every square passes (green): red can only be the colour scale's 0% end
        reds = ((px[..., 0] > 150) & (px[..., 1] < 40) & (px[..., 2] < 60)).sum()
        assert reds > 10, f"no colour scale: {reds} red pixels"


def test_the_page_is_self_contained_and_keeps_the_sections_in_order(tmp_path):
    view = RunView(make_run(tmp_path))
    text = html.render(view)
    assert not re.search(r'(src|href)="(https?:)?//', text)
    order = [text.index(f'id="{i}"') for i in ("filters", "verdict", "overview",
                                                "upgrade-loaders", "heatmaps", "grids")]
    assert order == sorted(order), "filters first, then verdict, overview, advice, the rest"
    assert len(sample_rows()) == len(html.payload(view)["rows"])
