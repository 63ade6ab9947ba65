"""What an artifact is, read by the worker's inspect phase in one TF environment (`harness
inspect`, `fixtures add`, `try`, `migrate`), and the checks made on the host before any worker
sees it: not a FIFO or device, the bytes match the name, a SavedModel folder is whole."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from ..errors import UserError
from ..worker.safety import HDF5_MAGIC, ZIP_MAGIC, UnsafeArtifact, check_zip


def inspect_artifacts(paths: list[Path], spec: str, cache_dir: Path, *,
                      tensorboard: Path | None = None, backend: str = "uv",
                      as_of: str | None = None, python: str | None = None,
                      cell_timeout: float = 600) -> list[dict]:
    """Run the worker's inspect phase on `paths` (one TF start) in the environment for `spec`;
    with several paths, each one's TensorBoard graph goes to tensorboard/<i>."""
    from ..envs import get_backend
    from ..plan.specs import EnvSpec
    from ..run import batch as execute

    for path in paths:
        check_artifact(path)
    env = get_backend(backend)(EnvSpec.parse(spec), cache_dir, as_of=as_of, python=python)
    env.create()
    reqs = []
    for i, path in enumerate(paths):
        tb = None
        if tensorboard:
            tb = str((tensorboard if len(paths) == 1 else tensorboard / str(i)).resolve())
        reqs.append({"id": f"i{i:04d}", "artifact": str(path.resolve()), "tensorboard": tb})
    results: dict[str, dict] = {}
    work = tempfile.mkdtemp(prefix="harness-inspect-")
    try:  # whatever ends the inspect (a timeout, Ctrl-C, SIGTERM): no worker, no temp folder
        execute.run_batch(env, "inspect", reqs, Path(work), cell_timeout=cell_timeout,
                          on_result=lambda req, res: results.__setitem__(req["id"], res))
    finally:
        execute.kill_all()
        shutil.rmtree(work, ignore_errors=True)
    out = []
    for req in reqs:
        result = results[req["id"]]
        result.pop("log", None)
        result.setdefault("artifact", req["artifact"])
        result["read_with"] = {k: env.info.get(k) for k in ("tf", "keras", "python")}
        out.append(result)
    return out


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"))
_EXPECTED = {".h5": "HDF5", ".hdf5": "HDF5", ".keras": "a zip archive (or HDF5, as TF 2.12/2.13 "
             "write it)", ".tflite": "a TFLite flatbuffer"}


def _what(head: bytes) -> str:
    """What the first bytes of a file say it is, in words."""
    if head.startswith(HDF5_MAGIC):
        return "an HDF5 file (an .h5 file?)"
    if head.startswith(ZIP_MAGIC):
        return "a zip archive (a .keras file?)"
    if head[4:8] == b"TFL3":
        return "a TFLite flatbuffer (a .tflite file?)"
    if head.lstrip()[:1] in (b"{", b"["):
        return "JSON text"
    return f"unknown bytes ({head[:8].hex()})"


def _not_regular(path: Path) -> str | None:
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_artifact(path: Path) -> None:
    """Refuse, in one line and before a worker starts, what no reader should be handed:
    a FIFO (reading it hangs), an empty file, a file whose bytes contradict its name, a zip
    bomb."""
    if not path.exists() and not path.with_name(path.name + ".index").exists():
        raise UserError(f"{path}: no such file or folder")
    if not path.exists():
        return  # a checkpoint prefix
    files = [path] if not path.is_dir() else sorted(path.rglob("*"))[:10000]
    for f in files:
        kind = _not_regular(f)
        if kind:
            raise UserError(f"{f} is {kind}, not a model file" if kind != "not a regular file"
                            else f"{f}: not a regular file")
    if path.is_dir():
        _check_savedmodel_folder(path)
        return
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(16)
    suffix = path.suffix.lower()
    fits = {".h5": head.startswith(HDF5_MAGIC), ".hdf5": head.startswith(HDF5_MAGIC),
            ".keras": head.startswith((ZIP_MAGIC, HDF5_MAGIC)),
            ".tflite": head[4:8] == b"TFL3"}.get(suffix, True)
    if not fits:
        raise UserError(f"{path.name} is {_what(head)}, not {_EXPECTED[suffix]}")
    if head.startswith(ZIP_MAGIC):
        try:
            check_zip(path)
        except UnsafeArtifact as exc:
            raise UserError(f"{path}: refused: {exc}") from None


SAVEDMODEL_PARTS = ("variables", "fingerprint.pb", "keras_metadata.pb", "assets")


def _check_savedmodel_folder(path: Path) -> None:
    """A SavedModel folder cut short says what is missing, by name, before any reader guesses
    (without saved_model.pb, its fingerprint.pb was read as an ONNX file)."""
    parts = [n for n in SAVEDMODEL_PARTS if (path / n).exists()]
    graph = (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()
    if parts and not graph:
        raise UserError(f"{path}: a SavedModel folder ({', '.join(parts)}) without "
                        "saved_model.pb: copied or extracted only in part?")
    if not graph:
        return
    if (path / "saved_model.pb").is_file() and (path / "saved_model.pb").stat().st_size == 0:
        raise UserError(f"{path / 'saved_model.pb'}: empty file (0 bytes)")
    variables = path / "variables"
    index = variables / "variables.index"
    if index.is_file():
        shards = sorted(variables.glob("variables.data-*"))
        empty = [f for f in [index, *shards] if f.stat().st_size == 0]
        if empty:
            raise UserError(f"{empty[0]}: empty file (0 bytes): the SavedModel's variables were "
                            "not written whole")
        if not shards:
            raise UserError(f"{variables}: variables.index without its variables.data-* "
                            "shard(s)")


def problem(r: dict) -> str | None:
    """Why an inspect result is not a readable model, in one line (None: it is)."""
    where = r.get("artifact")
    if r.get("status") != "ok":
        first = str(r.get("error") or "").strip().splitlines()[:1]
        return (f"{where}: cannot be read: {r.get('error_type') or r.get('status')}"
                f"{': ' + first[0][:300] if first else ''}")
    if r.get("error"):
        return f"{where}: {str(r['error']).splitlines()[0]}"
    if r.get("format") == "unknown":
        return f"{where}: not a model format this harness knows (from its bytes and layout)"
    return None
