"""The plan: which cells a run has, and the save and load requests that produce them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import HarnessError
from .specs import EnvSpec
from .vocab import FORMAT_LOADERS, FORMATS, MODELS


class PlanError(HarnessError, ValueError):
    """A selection of models/formats/loaders that means no cells."""


@dataclass(frozen=True)
class Cell:
    save_tf: str
    save_device: str
    load_tf: str
    load_device: str
    model: str
    format: str
    loader: str

    def key(self) -> tuple:
        return tuple(asdict(self).values())

    def as_dict(self) -> dict:
        return asdict(self)


def pick(kind: str, wanted: list[str] | None, known: tuple[str, ...]) -> list[str]:
    if not wanted:
        return list(known)
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise PlanError(f"unknown {kind} {', '.join(unknown)}; known: {', '.join(known)}")
    return list(dict.fromkeys(wanted))


def plan_cells(save: list[EnvSpec], load: list[EnvSpec], models: list[str] | None = None,
               formats: list[str] | None = None, loaders: list[str] | None = None) -> list[Cell]:
    if not save or not load:
        raise PlanError("need at least one --save and one --load version")
    models = pick("model", models, MODELS)
    formats = pick("format", formats, FORMATS)
    all_loaders = tuple(dict.fromkeys(ld for f in FORMATS for ld in FORMAT_LOADERS[f]))
    loaders = pick("loader", loaders, all_loaders)
    cells = [
        Cell(s.label, s.device, ld.label, ld.device, m, f, loader)
        for s in save for ld in load for m in models for f in formats
        for loader in FORMAT_LOADERS[f] if loader in loaders
    ]
    if not cells:
        raise PlanError("the selection leaves no cells (no chosen loader reads a chosen format)")
    return cells


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' (1 <= K <= N) -> (K, N)."""
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise PlanError(f"bad --shard {text!r}: expected K/N, e.g. 2/4")
    k_, n_ = int(k), int(n)
    if n_ < 1 or not 1 <= k_ <= n_:
        raise PlanError(f"bad --shard {text!r}: need 1 <= K <= N")
    return k_, n_


def _shard_order(c: Cell) -> tuple:
    # Cells of one load environment stay together, so a shard starts few load workers.
    return (c.load_tf, c.load_device, c.save_tf, c.save_device, c.model, c.format, c.loader)


def shard_cells(cells: list[Cell], k: int, n: int) -> list[Cell]:
    """The K-th of N contiguous, nearly equal slices of the cells in a fixed order: the same
    on every machine, disjoint, and together exactly the whole plan."""
    ordered = sorted(cells, key=_shard_order)
    lo, hi = len(ordered) * (k - 1) // n, len(ordered) * k // n
    chosen = set(ordered[lo:hi])
    return [c for c in cells if c in chosen]
