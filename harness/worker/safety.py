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

from . import protowire as pw

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
# checks below would refuse; what they would have refused is kept in WAIVED (the row's
# notes.unsafe).
UNSAFE = False
WAIVED: list[str] = []
UNSAFE_HINT = "`harness run --unsafe` only if you trust where it came from"


def start_request(unsafe: bool) -> None:
    global UNSAFE
    UNSAFE = bool(unsafe)
    WAIVED.clear()


def unsafe_note() -> str | list[str] | None:
    """What a cell loaded under --unsafe let through (None for a cell that was not)."""
    if not UNSAFE:
        return None
    return list(WAIVED) or "on: no check found anything to refuse"


def _refuse(reason: str) -> None:
    """Raise UnsafeArtifact(reason), or under --unsafe note what was let through."""
    if UNSAFE:
        if reason.removeprefix("refused: ") not in WAIVED:
            WAIVED.append(reason.removeprefix("refused: "))
        return
    raise UnsafeArtifact(reason)


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
    return sorted(set(found))  # a SavedModel names a layer in its own node and its model's


def _h5_config(path: Path):
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
    if raw is None:
        return None
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def _metadata_json(value, where: str):
    try:
        return json.loads(pw.text(value))
    except ValueError as exc:
        raise ValueError(f"{where}: a node's metadata is not JSON ({exc})") from None


def _keras_metadata_configs(pb: Path) -> list:
    """The metadata JSON of every node of a Keras 2 SavedModel's keras_metadata.pb
    (SavedMetadata: repeated SavedObject nodes = 1; SavedObject.metadata = 5)."""
    return [_metadata_json(value, pb.name)
            for node in pw.messages(pb.read_bytes(), 1)
            for value in pw.messages(node, 5) if len(value)]


def _object_graph_configs(pb: Path) -> list:
    """The Keras metadata JSON that saved_model.pb's object graph carries itself: the layout
    before keras_metadata.pb (TF < 2.5), which Keras 2 still reads when keras_metadata.pb is
    missing or empty (SavedModel.meta_graphs = 2; MetaGraphDef.object_graph_def = 7;
    SavedObjectGraph.nodes = 1; SavedObject.user_object = 4; SavedUserObject.metadata = 3)."""
    return [_metadata_json(value, pb.name)
            for mg in pw.messages(pb.read_bytes(), 2)
            for graph in pw.messages(mg, 7)
            for node in pw.messages(graph, 1)
            for user in pw.messages(node, 4)
            for value in pw.messages(user, 3) if len(value)]


def _savedmodel_configs(path: Path) -> tuple[str, list | None]:
    """Every Keras config a SavedModel folder holds: keras_metadata.pb and saved_model.pb's
    object metadata, both read (Keras reads the second where the first has no nodes).  The
    place named is the one that holds a Lambda layer, where one does."""
    where, with_lambda, configs = [], [], []
    for name, read, label in (("keras_metadata.pb", _keras_metadata_configs, "keras_metadata.pb"),
                              ("saved_model.pb", _object_graph_configs,
                               "saved_model.pb's object metadata")):
        if (path / name).is_file():
            found = read(path / name)
            if found:
                where.append(label)
                with_lambda += [label] if lambda_layers(found) else []
                configs.extend(found)
    return " and ".join(with_lambda or where) or "nothing", configs or None


def keras_config(path) -> tuple[str, object]:
    """(where the config came from, the config) of a Keras artifact, read without Keras."""
    path = Path(path)
    if path.is_dir():
        return _savedmodel_configs(path)
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
    try:
        where, config = keras_config(path)
    except UnsafeArtifact:
        raise
    except Exception as exc:  # a config we cannot read, we cannot vouch for
        return _refuse(f"cannot read the Keras config to check it for Lambda layers "
                       f"({type(exc).__name__}: {exc}); {why_unsafe}")
    names = lambda_layers(config)
    if names:
        _refuse(f"refused: {where} holds a Lambda layer ({', '.join(repr(n) for n in names)}), "
                f"Python code that loading would run, and {why_unsafe}; load it with "
                + UNSAFE_HINT)


# --- SavedModel graphs ------------------------------------------------------------------------

def refuse_graph_ops(path) -> None:
    """Raise UnsafeArtifact if a graph (a SavedModel folder, a `.meta`, a frozen GraphDef) holds
    ops that read, write or print outside the model (graph_ops.py), unless --unsafe.  Before any
    loader: loading runs restore and init ops, calling runs the functions."""
    from . import graph_ops

    name = "saved_model.pb" if Path(path).is_dir() else Path(path).name
    try:
        found = graph_ops.findings(path)
    except FileNotFoundError:
        return  # no such file: the loader says so in its own words
    except (OSError, ValueError) as exc:
        return _refuse(f"refused: cannot read {name} to check its graph for file and "
                       f"print ops ({type(exc).__name__}: {exc})")
    if found:
        _refuse(f"refused: {name}'s graph holds {graph_ops.describe(found)}: ops that "
                "read, write or print outside the model, run when it loads or is called; load "
                "it with " + UNSAFE_HINT)


# --- declared sizes in HDF5 -------------------------------------------------------------------

def check_h5(f, name: str, file_bytes: int | None = None) -> None:
    """Refuse an open h5py.File whose datasets declare more than their stored bytes could
    give, with the zip members' limits: a dataset above ZIP_RATIO_FROM bytes may declare at most
    ZIP_MAX_RATIO x what it has stored (an unallocated dataset reads as its fill value, so
    21 KB can declare 2 GiB), all of them together at most ZIP_MAX_TOTAL; and no dataset may
    store more than the file holds.  Reads metadata only."""
    sized = []

    def visit(path, obj):
        shape = getattr(obj, "shape", None)
        if shape is None or not hasattr(obj, "id") or not hasattr(obj.id, "get_storage_size"):
            return
        n = 1
        for d in shape or ():
            n *= int(d)
        sized.append((path, n * obj.dtype.itemsize, int(obj.id.get_storage_size())))

    f.visititems(visit)
    total = sum(n for _, n, _ in sized)
    if total > ZIP_MAX_TOTAL:
        raise UnsafeArtifact(f"{name}: its datasets declare {_mib(total)} in all "
                             f"(limit {_mib(ZIP_MAX_TOTAL)}): an HDF5 bomb?")
    for path, n, stored in sized:
        if n > ZIP_RATIO_FROM and n > ZIP_MAX_RATIO * max(stored, 1):
            ratio = f"{n // stored}x" if stored else "nothing stored"
            raise UnsafeArtifact(
                f"{name}: dataset {path!r} would inflate {stored} bytes to {_mib(n)} "
                f"({ratio}; limit {ZIP_MAX_RATIO}x): an HDF5 bomb?")
        if file_bytes is not None and stored > file_bytes:
            raise UnsafeArtifact(f"{name}: dataset {path!r} declares {stored} stored bytes but "
                                 f"the file has {file_bytes}: cut short?")


def check_h5_file(path) -> None:
    """check_h5 on an HDF5 file by path (h5py opens it read-only, reads no dataset)."""
    import h5py

    path = Path(path)
    with h5py.File(path, "r") as f:
        check_h5(f, path.name, path.stat().st_size)


def check_h5_member(path, name: str = "model.weights.h5") -> None:
    """check_h5 on the HDF5 file inside a checked zip (a `.keras`), read in place as Keras
    reads it (h5py on the member's file object); nothing where the zip has no such member."""
    check_zip(path)
    import h5py

    with zipfile.ZipFile(path) as z:
        if name not in z.namelist():
            return
        size = z.getinfo(name).file_size
        with z.open(name) as member, h5py.File(member, "r") as f:
            check_h5(f, f"{Path(path).name}: {name}", size)


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
