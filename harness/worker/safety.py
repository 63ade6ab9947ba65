"""Artifacts are untrusted input: what the worker checks before it hands one to a library.

- Zip archives (`.keras`) are read only when their declared sizes are sane: a 1 MB zip bomb
  must not take the machine (Python's zipfile never inflates a member past its declared size,
  so the declared sizes bound what any reader can get out of it).
- Keras configs are scanned for `Lambda` layers where the installed Keras has no safe mode for
  that file: a Lambda layer holds Python bytecode that loading runs.
- The worker's own limits: memory (setrlimit) and the host's life (a watchdog thread).

Stdlib only (h5py optional): the host's `harness inspect` uses the zip check too.
"""

from __future__ import annotations

import json
import os
import threading
import time
import zipfile
from pathlib import Path

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
# A model's weights deflate to about 90% of their size, its JSON config to 10-20%; a zip bomb to
# 0.1%.  Members above ZIP_RATIO_FROM bytes must not claim more than ZIP_MAX_RATIO x their
# compressed size, and no archive more than ZIP_MAX_TOTAL bytes in all.
ZIP_MAX_TOTAL = 2 << 30
ZIP_MAX_RATIO = 100
ZIP_RATIO_FROM = 16 << 20
ZIP_MAX_MEMBERS = 10000

# Set by main.py from each request: `"unsafe": true` (harness run --unsafe) loads what the
# checks below would refuse.
UNSAFE = False


class UnsafeArtifact(Exception):
    """An artifact the worker refuses to hand to a library (one line, naming why)."""


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB"


def check_zip(path) -> None:
    """Refuse an archive whose members would inflate past the limits."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnsafeArtifact(f"{Path(path).name}: not a readable zip archive ({exc})") from None
    if len(infos) > ZIP_MAX_MEMBERS:
        raise UnsafeArtifact(f"{Path(path).name}: a zip with {len(infos)} members (limit "
                             f"{ZIP_MAX_MEMBERS})")
    total = sum(i.file_size for i in infos)
    if total > ZIP_MAX_TOTAL:
        raise UnsafeArtifact(f"{Path(path).name}: its members would inflate to {_mib(total)} "
                             f"(limit {_mib(ZIP_MAX_TOTAL)}): a zip bomb?")
    for i in infos:
        if i.file_size > ZIP_RATIO_FROM and i.file_size > ZIP_MAX_RATIO * max(i.compress_size, 1):
            raise UnsafeArtifact(
                f"{Path(path).name}: member {i.filename!r} would inflate {i.compress_size} bytes "
                f"to {_mib(i.file_size)} ({i.file_size // max(i.compress_size, 1)}x; limit "
                f"{ZIP_MAX_RATIO}x): a zip bomb?")


def read_member(path, name: str, limit: int = 64 << 20) -> bytes | None:
    """One member of a checked archive, at most `limit` bytes; None if it has no such member."""
    check_zip(path)
    with zipfile.ZipFile(path) as z:
        if name not in z.namelist():
            return None
        with z.open(name) as f:
            data = f.read(limit + 1)
    if len(data) > limit:
        raise UnsafeArtifact(f"{Path(path).name}: member {name!r} is over {_mib(limit)}")
    return data


# --- Lambda layers in a Keras config --------------------------------------------------------

def lambda_layers(config) -> list[str]:
    """Names of the Lambda layers anywhere in a Keras config (nested models and wrappers)."""
    found, stack = [], [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("class_name") == "Lambda":
                inner = node.get("config")
                found.append(str(inner.get("name", "?")) if isinstance(inner, dict) else "?")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(found)


def _h5_config(path: Path):
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
    if raw is None:
        return None
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes):
    """(field number, value) of a protobuf message; values of length-delimited fields as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field")
            value, i = buf[i:i + n], i + n
        elif wire in (1, 5):
            value, i = buf[i:i + (8 if wire == 1 else 4)], i + (8 if wire == 1 else 4)
        else:
            raise ValueError(f"wire type {wire}")
        yield number, value


def _keras_metadata_configs(pb: Path) -> list:
    """The metadata JSON of every node of a Keras 2 SavedModel's keras_metadata.pb
    (SavedMetadata: repeated SavedObject nodes = 1; SavedObject.metadata = 5)."""
    out = []
    for number, node in _fields(pb.read_bytes()):
        if number == 1 and isinstance(node, bytes):
            for n2, value in _fields(node):
                if n2 == 5 and isinstance(value, bytes) and value:
                    out.append(json.loads(value.decode("utf-8")))
    return out


def keras_config(path) -> tuple[str, object]:
    """(where the config came from, the config) of a Keras artifact, read without Keras."""
    path = Path(path)
    if path.is_dir():
        pb = path / "keras_metadata.pb"
        return ("keras_metadata.pb", _keras_metadata_configs(pb) if pb.is_file() else None)
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(HDF5_MAGIC):
        return "the h5 model_config", _h5_config(path)
    if head.startswith(ZIP_MAGIC):
        raw = read_member(path, "config.json")
        return "config.json", None if raw is None else json.loads(raw.decode("utf-8"))
    return "nothing", None


def refuse_lambda_layers(path, why_unsafe: str) -> None:
    """Raise UnsafeArtifact if the artifact's config holds a Lambda layer, unless --unsafe."""
    if UNSAFE:
        return
    try:
        where, config = keras_config(path)
    except UnsafeArtifact:
        raise
    except Exception as exc:  # a config we cannot read, we cannot vouch for
        raise UnsafeArtifact(f"cannot read the Keras config to check it for Lambda layers "
                             f"({type(exc).__name__}: {exc}); {why_unsafe}") from None
    names = lambda_layers(config)
    if names:
        raise UnsafeArtifact(
            f"refused: {where} holds a Lambda layer ({', '.join(repr(n) for n in names)}), "
            f"Python code that loading would run, and {why_unsafe}; load it with "
            "`harness run --unsafe` only if you trust where it came from")


# --- the worker's own limits ----------------------------------------------------------------

def apply_memory_limit(mb) -> str | None:
    """Cap the worker's memory at `mb` MiB with RLIMIT_DATA.

    Measured (2 cores, Python 3.11): importing TF and building a small Keras model maps
    1.6 GB of address space under TF 2.12 (VmPeak 1644 MB) and 1.1 GB under 2.16, but only
    370 / 260 MB of it is data (VmData).  RLIMIT_AS counts every mapping, PROT_NONE reservations
    and each thread's malloc arena included, and grows with the core count: at 1200 MB TF 2.12
    died at import without a word.  RLIMIT_DATA counts what is written (heap, anonymous
    mappings, thread stacks), so it bounds the real use: TF 2.12 imports at 400 MB and fails
    cleanly (SystemError) at 300 MB.  A cell that passes the limit gets a MemoryError (a
    load-error naming the limit) or, when TF's C++ allocator fails, an abort (a crash)."""
    if not mb:
        return None
    import resource

    limit = int(mb) << 20
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    return f"RLIMIT_DATA {limit >> 20} MiB"


def watch_host(host_pid, interval: float = 2.0) -> bool:
    """Exit at once (70) when the host that started this worker is gone (kill -9): otherwise
    the worker would finish its batch for nobody.  Only for a direct child of the host (a worker
    in a container has another parent, and must be stopped by its container)."""
    if not host_pid or os.getppid() != int(host_pid):
        return False

    def watch():
        while True:
            time.sleep(interval)
            if os.getppid() != int(host_pid):
                os._exit(70)

    threading.Thread(target=watch, name="host-watchdog", daemon=True).start()
    return True
