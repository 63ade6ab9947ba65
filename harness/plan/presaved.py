"""Artifacts a run did not save itself (fixtures, a user's file): their cells skip the SAVE
phase and go straight to loading, judged like every other cell."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..worker import outcomes


@dataclass(frozen=True)
class Presaved:
    """An artifact this run did not save (a fixture, a user's file): its cells go straight to
    loading.  `reference_dir` holds reference.json/.npz in the worker's layout; `versions` and
    `identity` are what rows record of the producer side."""

    save_tf: str  # the producer's version label: the cells' save_tf
    model: str  # the fixture's name: the cells' model
    format: str
    artifact_dir: Path
    reference_dir: Path
    manifest: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    identity: dict = field(default_factory=dict)
    tolerance: tuple[float, float] | None = None  # replaces the per-dtype/format ones
    on_disk_format: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.save_tf, self.model, self.format)

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return d | {"artifact_dir": str(self.artifact_dir),
                    "reference_dir": str(self.reference_dir),
                    "tolerance": list(self.tolerance) if self.tolerance else None}

    @classmethod
    def from_json(cls, d: dict) -> Presaved:
        return cls(**(d | {"artifact_dir": Path(d["artifact_dir"]),
                           "reference_dir": Path(d["reference_dir"]),
                           "tolerance": tuple(d["tolerance"]) if d.get("tolerance") else None}))

    def saved(self) -> dict:
        return {"status": outcomes.OK, "manifest": self.manifest,
                "on_disk_format": self.on_disk_format or self.manifest.get("on_disk_format")}
