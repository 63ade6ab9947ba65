"""What the host asks a worker to do, as typed values.  The worker still receives JSON (it
must not import the host package): `to_json()` is the one place that shape is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cells import Cell


@dataclass(frozen=True)
class SaveRequest:
    """Build `model` (once per worker) and save it as `format` into `artifact_dir`; its
    reference (inputs, predictions, parameters) goes to `reference_dir`."""

    id: str
    model: str
    format: str
    artifact_dir: Path
    reference_dir: Path
    test_hook: str | None = None  # the test suite's way to make a real worker die or hang

    def to_json(self) -> dict:
        out = {"id": self.id, "phase": "save", "model": self.model, "format": self.format,
               "artifact_dir": str(self.artifact_dir), "reference_dir": str(self.reference_dir)}
        if self.test_hook:
            out["test_hook"] = self.test_hook
        return out


@dataclass(frozen=True)
class LoadRequest:
    """Load the artifact in `artifact_dir` with `cell.loader`, predict on the reference's
    stored inputs, and report the parameters it holds."""

    id: str
    cell: Cell
    artifact_dir: Path
    reference_dir: Path
    unsafe: bool = False  # --unsafe: let Keras deserialize code (Lambda layers)

    def to_json(self) -> dict:
        out = {"id": self.id, "phase": "load", "cell": self.cell.as_dict(),
               "model": self.cell.model,
               "format": self.cell.format, "loader": self.cell.loader,
               "artifact_dir": str(self.artifact_dir), "reference_dir": str(self.reference_dir)}
        if self.unsafe:
            out["unsafe"] = True
        return out
