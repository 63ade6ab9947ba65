"""The PNG heatmap: one panel per format, save version down, load version across, each square
coloured by the share of its applicable cells that pass and labelled "passed/total"."""

from __future__ import annotations

import math
import textwrap

from ..errors import UserError
from ..results.view import RunView


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def render(view: RunView, path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display; must come before pyplot
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError:
        raise UserError("the PNG heatmap needs matplotlib: pip install "
                        "'tf-compat-harness[report]' (or leave png out of --formats)") from None

    formats = view.formats
    ncols = min(3, max(1, len(formats)))
    nrows = max(1, math.ceil(len(formats) / ncols))
    n_save, n_load = len(view.save_sides), len(view.load_sides)
    cell_in = 0.62 if max(n_save, n_load) <= 6 else 0.42
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=(0.9 + ncols * (1.6 + n_load * cell_in),
                                      0.9 + nrows * (1.2 + n_save * cell_in)))
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#dee2e6")
    fontsize = 9 if max(n_save, n_load) <= 6 else 6.5
    for ax, fmt in zip(axes.flat, formats, strict=False):
        groups = view.groups(fmt)
        grid = np.full((n_save, n_load), np.nan)
        for i, save in enumerate(view.save_sides):
            for j, load in enumerate(view.load_sides):
                g = groups.get(save + load)
                text, colour = "", "black"
                if g is not None:
                    text = "n/a" if g.total == 0 else f"{g.passed}/{g.total}"
                    if g.fraction is not None:
                        grid[i, j] = g.fraction
                        # the ends of RdYlGn are dark: white text stays readable there
                        colour = "white" if g.fraction < 0.15 or g.fraction > 0.85 else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=colour)
        ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, aspect="equal")
        ax.set_title(fmt, fontsize=11, fontweight="bold")
        ax.set_xticks(range(n_load), [view.side_label(*s) for s in view.load_sides],
                      rotation=45 if n_load > 4 else 0, ha="right" if n_load > 4 else "center",
                      fontsize=fontsize)
        ax.set_yticks(range(n_save), [view.side_label(*s) for s in view.save_sides],
                      fontsize=fontsize)
        ax.set_xlabel("loaded with", fontsize=fontsize)
        ax.set_ylabel("saved with", fontsize=fontsize)
        ax.set_xticks(np.arange(-0.5, n_load), minor=True)
        ax.set_yticks(np.arange(-0.5, n_save), minor=True)
        ax.grid(which="minor", color="white", linewidth=2)
        ax.tick_params(which="minor", length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
    for ax in list(axes.flat)[len(formats):]:
        ax.axis("off")
    # one scale for every panel (they share vmin/vmax): what a colour means, beside them
    bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1),
                                                    cmap=cmap),
                       ax=axes.ravel().tolist(), fraction=0.03, pad=0.03, shrink=0.8)
    bar.set_label("share of applicable cells that pass", fontsize=fontsize)
    bar.set_ticks([0, 0.25, 0.5, 0.75, 1], labels=["0%", "25%", "50%", "75%", "100%"])
    bar.ax.tick_params(labelsize=fontsize)
    # wrapped to the figure's width (a one-pair run makes a narrow figure, a long run id a
    # long title); bbox_inches="tight" then keeps the title, the labels and the bar in the file
    title = (f"Share of cells that pass (models x loaders), run {view.run_id}, {view.date}; "
             "grey: no applicable cell")
    fig.suptitle(textwrap.fill(title, max(30, int(fig.get_figwidth() * 11))), fontsize=10)
    fig.savefig(path, dpi=130, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)


def write(view: RunView, out_dir) -> list:
    path = out_dir / "heatmap.png"
    render(view, path)
    return [path]
