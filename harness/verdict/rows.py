"""One cell's row, decided in one place.

`build_row` turns what happened to a cell (its save outcome, its load outcome or the reason its
load environment cannot run here) into the row cells.jsonl stores: the status mapping, the
comparison (harness.verdict.judge), timing, versions, environment identities.  Zoo cells, fixtures
and
migrations all go through it.  It writes nothing; it reads only the arrays it judges.

Rows may be published, so no machine path survives in them: the folders of environments, the
run, the cache, the harness package, temporary folders and the home folder become `<env 2.16>`,
`<run>`, `<cache>`, `<harness>`, `<tmp>` and `~` (`scrub_paths`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path

from ..jsonfile import write_json_atomic
from ..plan.cells import KEY_FIELDS, Cell
from ..scrub import scrub_paths
from ..vocab import TOLERANCES, Status
from ..worker import outcomes
from .advisories import advisory_note, loads_with_keras
from .judge import judge

VERSION_KEYS = ("tf", "keras", "tf_keras", "numpy", "h5py", "protobuf", "python")

# A row's fields, in the order cells.jsonl and the reports show them.
COLUMNS = [
    *KEY_FIELDS, "status", "error_type", "error", "params_total", "params_equal",
    "params_missing", "params_extra", "params_shape", "params_dtype", "params_value",
    "params_by_value", "param_diffs", "max_abs_diff", "max_rel_diff", "max_ulp", "rtol", "atol",
    "seconds", "on_disk_format", "save_versions", "load_versions", "save_env", "load_env",
    "resume_ok", "differs", "reused_from", "notes", "log",
    "diverges_at", "layer_diffs", "tolerance_to_pass",  # prediction mismatches: layer_diffs.py
]


@dataclass(frozen=True)
class Side:
    """What a row records of the environment on one side of a cell."""

    name: str
    versions: dict = field(default_factory=dict)
    identity: dict = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, env) -> Side:
        return cls(name, {k: env.info[k] for k in VERSION_KEYS if env.info.get(k) is not None},
                   env.identity())


@dataclass(frozen=True)
class LoadOutcome:
    """What became of a cell's load: the worker's result and where its arrays are."""

    result: dict
    arrays: Path | None = None  # <id>.npz of an `ok` load
    reference_dir: Path | None = None
    # the load cache's entry of this result: the verdict judged from it is kept there too, so a
    # cell reused with the same comparison code and tolerances is not judged again
    cache_entry: Path | None = None


# What a verdict depends on besides the cache entry itself (the artifact, its reference, the
# worker's result and arrays): the comparison code and the cell's tolerances.
# Named by module, not by path, so a move of the files changes the digest once (their imports
# change), not on every run.
_JUDGING_CODE = ("harness.verdict.judge", "harness.verdict.compare", "harness.vocab",
                 "harness.verdict.rows", "harness.verdict.layer_diffs")
_RUN_OWN = ("log", "arrays", "id", "made_by_run", "arrays_sha256")  # not the result's content


@cache
def _judging_code_digest() -> str:
    h = hashlib.sha256()
    for name in _JUDGING_CODE:
        h.update(Path(importlib.import_module(name).__file__).read_bytes())
    return h.hexdigest()


def _verdict_file(cell: Cell, load: LoadOutcome, tolerance_for_dtype) -> Path | None:
    if load.cache_entry is None:
        return None
    tolerances = ([tolerance_for_dtype(cell.format, d) for d in sorted(TOLERANCES)]
                  if tolerance_for_dtype else None)
    result = {k: v for k, v in load.result.items() if k not in _RUN_OWN}
    blob = json.dumps([_judging_code_digest(), cell.loader, tolerances, result],
                      sort_keys=True, default=str)
    return load.cache_entry / f"verdict-{hashlib.sha256(blob.encode()).hexdigest()[:24]}.json"


def _remembered(path: Path | None) -> dict | None:
    """A verdict judged before from the same entry, code and tolerances (checked: an object
    with a known status, else judged again)."""
    if path is None:
        return None
    from ..cache.loads import MAC, verified

    try:
        fields = json.loads(path.read_bytes())
        if not verified(_cache_root(path), _signed_name(path), fields):
            return None  # rewritten, or from another cache: judged again
        fields.pop(MAC)
        fields["status"] = Status(fields["status"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return fields if isinstance(fields.get("notes", {}), dict) else None


def _cache_root(verdict: Path) -> Path:
    return verdict.parent.parent.parent  # <loads>/<k[:2]>/<key>/verdict-*.json


def _signed_name(verdict: Path) -> str:
    return f"{verdict.parent.name}/{verdict.name}"


def _remember(path: Path | None, fields: dict) -> None:
    if path is None:
        return
    from ..cache.loads import signed

    try:
        write_json_atomic(path, signed(_cache_root(path), _signed_name(path),
                                       json.loads(json.dumps(fields, default=str))))
    except OSError:
        pass  # a cache that cannot be written costs the next run a judging, nothing else


def saved_fields(saved: dict) -> dict | None:
    """The row fields of a cell whose artifact does not exist (None when it does): a save that
    is unsupported stays unsupported; a save worker killed or out of time (the machine's doing:
    SIGKILL, the OOM killer, a timeout) makes the cell `crash` / `timeout`, which the next run
    retries; any other failure, TF's own abort included, is the cell's `save-error` ("could not
    save")."""
    status = saved.get("status", outcomes.CRASH)
    if status == outcomes.OK:
        return None
    if status == outcomes.UNSUPPORTED:
        return {"status": Status.UNSUPPORTED, "error_type": saved.get("error_type"),
                "error": saved.get("error")}
    if status in outcomes.HOST_OUTCOMES and "(signal SIGABRT)" not in str(saved.get("error")):
        return {"status": Status(status), "error_type": saved.get("error_type"),
                "error": f"the save {'crashed' if status == outcomes.CRASH else 'timed out'}: "
                         + str(saved.get("error") or "")}
    prefix = "" if status == outcomes.SAVE_ERROR else f"the save {status}ed: "
    if status == outcomes.ERROR:
        prefix = "save worker: "
    return {"status": Status.SAVE_ERROR, "error_type": saved.get("error_type"),
            "error": prefix + str(saved.get("error") or "")}


def loaded_fields(cell: Cell, saved: dict, load: LoadOutcome,
                  tolerance_for_dtype: Callable[[str, str], tuple | None] | None) -> dict:
    result = load.result
    status = result.get("status")
    if status == outcomes.OK:
        memo = _verdict_file(cell, load, tolerance_for_dtype)
        if (fields := _remembered(memo)) is not None:
            return fields
        try:
            fields = judge(result | {"loader": cell.loader}, load.arrays, load.reference_dir,
                           saved.get("manifest") or {},
                           tolerance_for_dtype=(partial(tolerance_for_dtype, cell.format)
                                                if tolerance_for_dtype else None))
        except Exception as exc:  # a comparison that fails must not lose the run
            return {"status": Status.CRASH, "error_type": type(exc).__name__,
                    "error": f"comparison failed: {exc}"}
        _remember(memo, fields)
        return fields
    if status == outcomes.ERROR:  # the worker failed outside the loader
        return {"status": Status.LOAD_ERROR, "error_type": result.get("error_type"),
                "error": "load worker: " + str(result.get("error"))}
    try:
        mapped = Status(status)
    except ValueError:
        return {"status": Status.CRASH, "error_type": "BadWorkerResult",
                "error": f"the worker answered status {status!r}"}
    return {"status": mapped, "error_type": result.get("error_type"),
            "error": result.get("error")}


def build_row(cell: Cell, saved: dict, save_side: Side, load_side: Side, *,
              load: LoadOutcome | None = None, unavailable: str | None = None,
              tolerance_for_dtype: Callable[[str, str], tuple | None] | None = None,
              paths: Mapping[str, str] | None = None, reused_from: str | None = None) -> dict:
    """The row of one cell.  Exactly one of: the save failed (`saved`'s status is not ok), the
    load environment cannot run here (`unavailable`), or `load` says what the loader did (in
    this run, or in the run `reused_from` names, whose worker result the load cache kept)."""
    fields = saved_fields(saved)
    if fields is None and unavailable:
        fields = {"status": Status.UNSUPPORTED, "error_type": "NoDevice", "error": unavailable}
    if fields is None:
        if load is None:
            raise ValueError(f"cell {cell} was saved and has no load outcome")
        fields = loaded_fields(cell, saved, load, tolerance_for_dtype)
        fields["seconds"] = load.result.get("seconds")
        fields["log"] = load.result.get("log")
        if "notes" not in fields and isinstance(load.result.get("notes"), dict):
            fields["notes"] = load.result["notes"]  # an error row too says it ran --unsafe
    row = dict.fromkeys(COLUMNS) | cell.as_dict() | {
        "on_disk_format": saved.get("on_disk_format"),
        "save_versions": save_side.versions, "load_versions": load_side.versions,
        "save_env": save_side.identity, "load_env": load_side.identity,
        "reused_from": reused_from,
    } | fields
    row["status"] = str(row["status"])
    if save_side.identity.get("reference"):  # a fixture: where its reference came from
        row["notes"] = dict(row.get("notes") or {}) | {
            "reference": save_side.identity["reference"],
            **({"reference_detail": save_side.identity["reference_detail"]}
               if save_side.identity.get("reference_detail") else {})}
    keras = (load_side.versions or {}).get("keras")
    note = advisory_note(keras) if load is not None and loads_with_keras(cell.loader) else None
    if note:  # the load environment's Keras has published safe_mode bypasses
        row["notes"] = dict(row.get("notes") or {}) | {"keras_advisories": note}
    for key in ("error", "log"):
        if isinstance(row.get(key), str):
            row[key] = scrub_paths(row[key], paths or {})
    return json.loads(json.dumps(row, default=str))
