"""The plan: which cells a run has, and the save and load requests that produce them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import HarnessError
from ..vocab import FORMAT_LOADERS, FORMATS, MODELS
from .specs import EnvSpec


class PlanError(HarnessError, ValueError):
    """A selection of models/formats/loaders that means no cells."""


class RowError(HarnessError, ValueError):
    """A results row that does not name a cell."""


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix: what was saved where, and how it was loaded where."""

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

    @classmethod
    def from_row(cls, row: dict) -> Cell:
        """The cell a results row (cells.jsonl) is about.  Rows of older runs may lack the
        device fields: those ran on cpu."""
        if not isinstance(row, dict):
            raise RowError(f"a row must be a JSON object, not {type(row).__name__}")
        values = {}
        for name in KEY_FIELDS:
            value = row.get(name)
            if value is None and name.endswith("_device"):
                value = "cpu"
            if not isinstance(value, str) or not value:
                raise RowError(f"row has no {name}")
            values[name] = value
        return cls(**values)

    @property
    def save_env(self) -> str:
        return env_name(self.save_tf, self.save_device)

    @property
    def load_env(self) -> str:
        return env_name(self.load_tf, self.load_device)


KEY_FIELDS = tuple(Cell.__dataclass_fields__)


def env_name(label: str, device: str = "cpu") -> str:
    """An environment's one display name: the version spec, plus `@device` where it is not
    cpu ("2.16", "2.16+tf_keras", "2.16@gpu").  run.json, progress and reports use it."""
    return label if device == "cpu" else f"{label}@{device}"


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
