"""What an artifact is, from its bytes and layout, never its extension.  Stdlib only: the host
(`harness inspect`) and the worker both use it.

Returns (format, entry) where `format` is a name from the vocabulary (or "unknown") and
`entry` the path to open: for a folder, the file or checkpoint prefix inside it.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _head(path: Path, n: int = 16) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _checkpoint_prefix(folder: Path) -> Path | None:
    """The newest checkpoint prefix in a folder: from its `checkpoint` state file, else the
    last `.index` file."""
    state = folder / "checkpoint"
    if state.is_file():
        for line in state.read_text(errors="replace").splitlines():
            if line.startswith("model_checkpoint_path:"):
                name = line.split(":", 1)[1].strip().strip('"')
                return (folder / name) if not os.path.isabs(name) else Path(name)
    indexes = sorted(folder.glob("*.index"))
    return indexes[-1].with_suffix("") if indexes else None


def _hdf5_kind(path: Path) -> str:
    try:
        import h5py  # only to tell a full model from a weights file; optional
    except ImportError:
        return "h5"
    with h5py.File(path, "r") as f:
        if "model_config" in f.attrs or "model_weights" in f:
            return "h5"
    # A weights file: Keras picks its reader by the name the user's call passes, so the format
    # follows the name (a `.weights.h5` goes to the new-format reader, any other to the legacy
    # one), and staging keeps that name (fixtures/stage.py ENTRY).
    return "weights-h5-v3" if path.name.endswith(".weights.h5") else "weights-h5"


def detect(path) -> tuple[str, Path]:
    path = Path(path)
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            keras2 = (path / "keras_metadata.pb").is_file()
            return ("keras-savedmodel" if keras2 else "savedmodel"), path
        subs = [p for p in path.iterdir() if p.is_dir() and (p / "saved_model.pb").is_file()]
        if len(subs) == 1:  # a serving layout: model/<version>/saved_model.pb
            return detect(subs[0])
        prefix = _checkpoint_prefix(path)
        if prefix is not None:
            return detect(prefix.with_name(prefix.name + ".index"))
        files = [p for p in path.iterdir() if p.is_file() and p.name != "manifest.json"]
        dirs = [p for p in path.iterdir() if p.is_dir()]
        if not files and len(dirs) == 1:
            return detect(dirs[0])
        known = [(f, e) for f, e in map(detect, files) if f != "unknown"]
        if len(known) == 1:
            return known[0]
        return "unknown", path
    if path.name.endswith(".index") or (path.with_name(path.name + ".index")).is_file():
        prefix = path.with_suffix("") if path.name.endswith(".index") else path
        meta = prefix.with_name(prefix.name + ".meta")
        return ("tf1-checkpoint" if meta.is_file() else "tf-checkpoint"), prefix
    head = _head(path)
    if head.startswith(HDF5_MAGIC):
        return _hdf5_kind(path), path
    if head[4:8] == b"TFL3":
        return "tflite", path
    if head.startswith(b"PK\x03\x04"):
        try:  # the central directory only: nothing is inflated here
            with zipfile.ZipFile(path) as z:
                if "config.json" in z.namelist():
                    return "keras", path
        except (zipfile.BadZipFile, OSError, ValueError):
            pass  # a cut or damaged archive: not a format
        return "unknown", path
    if head[:1] == b"\x08":  # ONNX ModelProto begins with ir_version (field 1, varint)
        return "onnx", path
    if head[:1] == b"\x0a":  # GraphDef begins with its node list (field 1, message)
        return "frozen-graph", path
    return "unknown", path


def recorded_producer(path) -> dict | None:
    """A harness manifest next to (or above) the artifact: who wrote it."""
    path = Path(path)
    for folder in (path if path.is_dir() else path.parent, path.parent, path.parent.parent):
        m = folder / "manifest.json"
        if m.is_file():
            try:
                data = json.loads(m.read_text())
            except ValueError:
                return None
            return {"producer": data.get("producer"), "created": data.get("created"),
                    "format": data.get("format")}
    return None
