"""The content-addressed save cache: a model saved in one format under one environment is saved
once, and every load version of this run and of later runs reads that copy.

An entry's address is a hash of what could change the bytes or the reference: the
environment's resolved versions (and, where the backend can tell, every installed
distribution), its device and variant variables, and the worker's own code (harness/worker/**,
which holds the zoo and the savers).  Layout under the cache dir:

    saves/<address>/ENTRY.json                 what the address was computed from
    saves/<address>/<model>/reference.{json,npz}
    saves/<address>/<model>/<format>/...       the artifact and its manifest.json
    saves/<address>/<model>/<format>.result.json   the save's result; written last, so its
                                                   presence means the entry is complete

Nothing in the cache is trusted: CI hands it between jobs, and a file rewritten by another
Keras would turn a real load-error into a pass.  An ok entry records, when it is written, the
sha256 of its manifest.json (which lists the sha256 of every artifact file) and of the model's
reference files; before a hit is used every file is checked against them.  An entry with a
missing, changed or unlisted file is moved to saves/<address>/.rejected/ (a bad reference takes
the whole model with it: every format was compared against it), a line saying why goes to
`SaveEntry.rejected`, and the save is made again.

Only outcomes that the same inputs would give again are kept (ok, unsupported, save-error, and
a crash by TF's own abort); other crashes and timeouts are retried by the next run.  A file
lock per address makes two runs that need the same saves take turns: the second finds the
first one's results.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from ..digests import ManifestError, read_manifest, sha256_file, verify_files
from ..envs.base import WORKER_MAIN
from ..jsonfile import write_json_atomic

WORKER_DIR = WORKER_MAIN.parent
CACHEABLE = ("ok", "unsupported", "save-error")
REFERENCE_FILES = ("reference.json", "reference.npz")


@cache
def worker_code_hash() -> str:
    """sha256 over harness/worker/**/*.py (paths and bytes): any change to the zoo or a saver
    gives new addresses."""
    h = hashlib.sha256()
    for p in sorted(WORKER_DIR.rglob("*.py")):
        h.update(str(p.relative_to(WORKER_DIR)).encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def _installed_dists(env) -> list[str] | None:
    """Every distribution in a local environment (name-version from dist-info folders): the
    resolved versions beyond the few the environment reports."""
    root = getattr(env, "path", None)
    if root is None:
        return None
    found = sorted(p.name for p in Path(root).glob("lib/python*/site-packages/*.dist-info"))
    return found or None


def entry_inputs(env) -> dict:
    info = {k: v for k, v in env.info.items() if k not in ("executable",)}
    identity = {k: v for k, v in env.identity().items() if k != "key"}  # e.g. a docker image
    return {"resolved": info, "distributions": _installed_dists(env),
            "identity": identity, "device": env.spec.device, "env_vars": env.worker_env(),
            "worker": worker_code_hash()}


class SaveCache:
    def __init__(self, root: Path):
        self.root = Path(root)  # <cache dir>/saves unless chosen

    def address(self, env) -> str:
        blob = json.dumps(entry_inputs(env), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:24]

    def entry(self, env) -> SaveEntry:
        return SaveEntry(self.root / self.address(env), entry_inputs(env))


class SaveEntry:
    def __init__(self, path: Path, inputs: dict):
        self.path = path
        self.inputs = inputs
        self.rejected: list[str] = []  # one line per entry found bad and moved aside

    def reference_dir(self, model: str) -> Path:
        return self.path / model

    def artifact_dir(self, model: str, fmt: str) -> Path:
        return self.path / model / fmt

    def _result_file(self, model: str, fmt: str) -> Path:
        return self.path / model / f"{fmt}.result.json"

    @contextmanager
    def lock(self):
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def get(self, model: str, fmt: str) -> dict | None:
        """The cached save result, or None: not there, or not what was written (then moved
        aside, with a line in `self.rejected`)."""
        path = self._result_file(model, fmt)
        if not path.exists():
            return None
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            result = None
        if not isinstance(result, dict):
            self._reject(model, fmt, [f"{fmt}.result.json: not a JSON object"], False)
            return None
        if result.get("status") != "ok":
            return result  # no artifact to check
        ref_problems = self._check_reference(model, result)
        problems = ref_problems or self._check_artifact(model, fmt, result)
        if problems:
            self._reject(model, fmt, problems, bool(ref_problems))
            return None
        return result

    def _check_reference(self, model: str, result: dict) -> list[str]:
        recorded = (result.get("digests") or {}).get("reference")
        if not isinstance(recorded, dict) or set(recorded) != set(REFERENCE_FILES):
            return ["no reference digests recorded (an entry written before they were)"]
        return [f"{model}/{p}" for p in
                verify_files(self.reference_dir(model), recorded, allow_extra=True)]

    def _check_artifact(self, model: str, fmt: str, result: dict) -> list[str]:
        art = self.artifact_dir(model, fmt)
        recorded = (result.get("digests") or {}).get("manifest.json")
        if not isinstance(recorded, str):
            return ["no manifest digest recorded (an entry written before it was)"]
        try:
            expected = read_manifest(art / "manifest.json")
        except ManifestError as exc:
            return [str(exc).replace(str(self.path) + "/", "")]
        expected = expected | {"manifest.json": recorded}
        return [f"{model}/{fmt}/{p}" for p in verify_files(art, expected)]

    def _reject(self, model: str, fmt: str, problems: list[str], whole_model: bool) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"
        what = f"{model}-reference" if whole_model else f"{model}-{fmt}"
        dest = self.path / ".rejected" / f"{what}-{stamp}"
        dest.mkdir(parents=True, exist_ok=True)
        moving = [self.path / model] if whole_model else \
            [self.artifact_dir(model, fmt), self._result_file(model, fmt)]
        for src in moving:
            if src.exists() or src.is_symlink():
                os.replace(src, dest / src.name)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        scope = f"every format of {model}" if whole_model else f"{model}/{fmt}"
        self.rejected.append(f"save cache {self.path.name}: {problems[0]}{more}; {scope} "
                             f"moved to {dest} and saved again")

    def prepare(self, model: str, fmt: str) -> None:
        """Clear what a save that died half-way may have left."""
        shutil.rmtree(self.artifact_dir(model, fmt), ignore_errors=True)
        self._result_file(model, fmt).unlink(missing_ok=True)
        entry = self.path / "ENTRY.json"
        if not entry.exists():
            write_json_atomic(entry, self.inputs, sort_keys=True)

    def put(self, model: str, fmt: str, result: dict) -> bool:
        if not cacheable(result):
            return False
        keep = {k: v for k, v in result.items() if k not in ("log", "id", "digests")}
        if keep.get("status") == "ok":
            digests = self._digests(model, fmt)
            if digests is None:  # an ok save without its files: nothing to reuse
                return False
            keep["digests"] = digests
        write_json_atomic(self._result_file(model, fmt), keep, sort_keys=True)
        return True

    def _digests(self, model: str, fmt: str) -> dict | None:
        """What get() checks later: the manifest (which holds every artifact file's sha256)
        and the reference, as they are now, just after the save."""
        ref, art = self.reference_dir(model), self.artifact_dir(model, fmt)
        try:
            manifest = sha256_file(art / "manifest.json")
            if verify_files(art, read_manifest(art / "manifest.json") |
                            {"manifest.json": manifest}):
                return None  # the worker's own manifest does not match its files
            return {"manifest.json": manifest,
                    "reference": {n: sha256_file(ref / n) for n in REFERENCE_FILES}}
        except (OSError, ManifestError):
            return None


def cacheable(result: dict) -> bool:
    """Outcomes the same inputs give again.  A worker that TF itself aborted (SIGABRT, e.g.
    an LLVM error in the TFLite converter) counts: it aborts again, and redoing it costs a TF
    import per night.  A kill, an exit or a timeout may be the machine's doing: retried."""
    status = result.get("status")
    if status in CACHEABLE:
        return True
    return status == "crash" and "(signal SIGABRT)" in str(result.get("error"))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(src, dst)


def place(src: Path, dst: Path) -> None:
    """Put a cached file or folder into a run (hard links: no copy, no extra disk)."""
    if not src.exists() or dst.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=_link_or_copy)
    else:
        _link_or_copy(str(src), str(dst))
