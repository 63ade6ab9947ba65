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
