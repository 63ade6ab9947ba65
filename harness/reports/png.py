"""The PNG heatmap: one panel per format, save version down, load version across, each square
coloured by the share of its applicable cells that pass and labelled "passed/total"."""

from __future__ import annotations

import math

from ..errors import UserError
from .run_view import RunView


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
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(ncols * (1.6 + n_load * cell_in),
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
    fig.suptitle(f"Share of cells that pass (models x loaders), run {view.run_id}, {view.date}",
                 fontsize=10)
    # keep the title's own band free: tight_layout alone lets it overlap the top panels
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    fig.savefig(path, dpi=130)
    plt.close(fig)


def write(view: RunView, out_dir) -> list:
    path = out_dir / "heatmap.png"
    render(view, path)
    return [path]
