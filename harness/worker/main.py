"""Worker entry point: ``python -I main.py BATCH.json``.

A batch is ``{"phase": "save"|"load"|"inspect"|"migrate", "out_dir": DIR, "requests": [...]}``;
a request may name its own ``"phase"`` (a save worker that goes on to load: one TF import for
both),
with optional ``"memory_limit_mb"`` (the worker's memory cap), ``"host_pid"`` (the worker exits
when that process is gone) and ``"feed": PREFIX`` (a streamed batch: more requests arrive as
files, see _requests).  For each request,
in order, the worker writes ``OUT/<id>.start`` before it begins and ``OUT/<id>.json`` (plus
``OUT/<id>.npz`` for arrays) when it ends.  If the process dies, the host sees which cell had
started but not finished, marks it ``crash`` and starts a fresh worker on the rest.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _import_worker_package():
    # `python -I` keeps the script's folder off sys.path, and we must not put the host package
    # there either; so load this folder as a package under a private name.
    spec = importlib.util.spec_from_file_location(
        "tfh_worker", HERE / "__init__.py", submodule_search_locations=[str(HERE)]
    )
    pkg = importlib.util.module_from_spec(spec)
    sys.modules["tfh_worker"] = pkg
    spec.loader.exec_module(pkg)
    return pkg


def _test_hook(req: dict) -> None:
    """Let the test suite make a real worker die or hang on a chosen cell (nothing else can)."""
    action = req.get("test_hook")
    os.environ.pop("HARNESS_TEST_CHILD_SEGFAULT", None)  # one request's hook, not the next's
    if not action or os.environ.get("HARNESS_WORKER_TEST_HOOKS") != "1":
        return
    if action == "segfault_in_child":  # a real SIGSEGV in isolate.in_child's forked copy
        os.environ["HARNESS_TEST_CHILD_SEGFAULT"] = "1"
    if action == "abort":  # as TF aborts the process on a fatal error
        os.abort()
    if action == "hang":
        time.sleep(3600)


def _memory_note(result: dict, limit: str | None) -> dict:
    """A cell that ran out of memory under the limit says so, in words."""
    if limit and (result.get("error_type") == "MemoryError"
                  or "bad_alloc" in str(result.get("error"))):
        result["error"] = (f"out of memory under the worker's limit ({limit}): "
                           f"{result.get('error') or result.get('error_type')}")
    return result


RUNNERS = {"save": "run_save", "load": "run_load", "inspect": "run_inspect",
           "migrate": "run_migrate"}


def _runner(phase: str):
    """The function that runs one request of `phase` (its module imported on first use)."""
    import importlib

    name = RUNNERS.get(phase, "run_load")
    return getattr(importlib.import_module(f"tfh_worker.{name[4:]}"), name)


FEED_POLL_SECONDS = 0.05


def _requests(batch: dict, out: Path):
    """The batch's requests, then (a streamed batch: `"feed": PREFIX`) those the host writes as
    they become ready, `<PREFIX><k>.json` for k = 0, 1, ... (each a list, written atomically),
    until `<PREFIX>end` says there are no more.  The host feeds a load worker each artifact as
    soon as it is saved, so the worker imports TF while the saves still run."""
    for req in batch["requests"]:
        yield req
    prefix = batch.get("feed")
    if not prefix:
        return
    k = 0
    while True:
        part = out / f"{prefix}{k}.json"
        if part.exists():
            k += 1
            for req in json.loads(part.read_text()):
                yield req
            continue
        if (out / f"{prefix}end").exists() and not part.exists():
            return
        time.sleep(FEED_POLL_SECONDS)


def main(argv: list[str]) -> int:
    batch = json.loads(Path(argv[1]).read_text())
    out = Path(batch["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    _import_worker_package()
    from tfh_worker import outcomes, safety
    from tfh_worker.files import error_fields, write_json_atomic

    safety.watch_host(batch.get("host_pid"))
    limit = safety.apply_memory_limit(batch.get("memory_limit_mb"))

    if batch.get("two_cpus") or any(r.get("model") == "mirrored"
                                    or "MirroredStrategy" in str(r.get("loader"))
                                    for r in batch["requests"]):
        os.environ["HARNESS_LOGICAL_CPUS"] = "2"  # read by runtime before TF sets up devices
    try:
        from tfh_worker import runtime  # imports TensorFlow: the slow part
    except Exception as exc:  # an environment where TF does not even import
        write_json_atomic(out / "versions.json", {"import_error": error_fields(exc)})
        return 3

    write_json_atomic(out / "versions.json", runtime.versions() | {
        "import_seconds": time.monotonic() - t0, "memory_limit": limit})
    for req in _requests(batch, out):
        run_one = _runner(req.get("phase") or batch["phase"])
        (out / f"{req['id']}.start").write_text(str(time.time()))
        start = time.monotonic()
        _test_hook(req)
        safety.start_request(req.get("unsafe"))
        try:
            result = run_one(req, out)
        except Exception as exc:  # a worker-level bug still belongs to this cell, not the batch
            result = {"status": outcomes.ERROR} | error_fields(exc)
        result = _memory_note(result, limit)
        if (unsafe := safety.unsafe_note()) is not None:  # the row says the cell ran unsafe
            notes = result.get("notes") if isinstance(result.get("notes"), dict) else {}
            result["notes"] = notes | {"unsafe": unsafe}
        result["id"] = req["id"]
        result["seconds"] = round(time.monotonic() - start, 3)
        write_json_atomic(out / f"{req['id']}.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
