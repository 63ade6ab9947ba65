"""Save phase: build each zoo model once, store its reference, save it in each format."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np

from . import zoo
from .files import error_fields, write_json_atomic
from .formats import FORMATS
from .runtime import Unsupported, file_kind, versions

_built: dict[str, object] = {}  # model name -> zoo.Built, or the exception building it raised


def _get_built(name: str):
    if name not in _built:
        try:
            _built[name] = zoo.build(name)
        except Exception as exc:  # recorded per cell: every format of this model is a save-error
            _built[name] = exc
    return _built[name]


def write_reference(built, ref_dir: Path) -> None:
    """The save side's truth: stored inputs, its own predictions and parameters."""
    if (ref_dir / "reference.json").exists():
        return
    ref_dir.mkdir(parents=True, exist_ok=True)
    outputs = built.predict(built.inputs)
    params = built.params()
    arrays = {"inputs": built.inputs}
    arrays |= {f"y{i}": y for i, y in enumerate(outputs)}
    arrays |= {f"p{i}": v for i, (_, v) in enumerate(params)}
    np.savez(ref_dir / "reference.npz", **arrays)
    write_json_atomic(ref_dir / "reference.json", {
        "model": built.name,
        "scope": built.name,
        "n_outputs": len(outputs),
        "param_names": [n for n, _ in params],
        "versions": versions(),
    })


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(art: Path, fmt: str, model: str, info: dict) -> dict:
    files = sorted(p for p in art.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {
        "format": fmt,
        "model": model,
        "producer": versions(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "files": {str(p.relative_to(art)): {"sha256": sha256(p), "bytes": p.stat().st_size,
                                            "kind": file_kind(p)} for p in files},
    } | info
    write_json_atomic(art / "manifest.json", manifest)
    return manifest


def run_save(req: dict, out: Path) -> dict:
    built = _get_built(req["model"])
    if isinstance(built, Unsupported):  # the model cannot exist here (e.g. qat under Keras 3)
        return {"status": "unsupported", "error": str(built)}
    if isinstance(built, Exception):
        return {"status": "save-error", "stage": "build"} | error_fields(built)
    write_reference(built, Path(req["reference_dir"]))
    fmt = FORMATS[req["format"]]
    reason = fmt.unsupported_reason(built)
    if reason:
        return {"status": "unsupported", "error": reason}
    art = Path(req["artifact_dir"])
    art.mkdir(parents=True, exist_ok=True)
    try:
        info = fmt.save(built, art)
    except Exception as exc:
        return {"status": "save-error", "stage": "save"} | error_fields(exc)
    manifest = write_manifest(art, req["format"], req["model"], info or {})
    return {"status": "ok", "on_disk_format": manifest.get("on_disk_format"),
            "manifest": json.loads(json.dumps(manifest, default=str))}
