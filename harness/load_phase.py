"""The LOAD phase of a run: every artifact loaded with every loader in every load
environment, or its result reused from the load cache (harness.load_cache) when nothing that
decides it changed; each result becomes the cell's row (Run.finish -> harness.rows)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .plan import env_name
from .requests import LoadRequest
from .rows import LoadOutcome
from .specs import EnvSpec
from .worker import outcomes

if TYPE_CHECKING:
    from .runner import Run


def load_phase(run: Run) -> None:
    per_env: dict[EnvSpec, list[LoadRequest]] = {}
    for spec in dict.fromkeys(run.load_spec(c) for c in run.cells):
        requests = per_env.setdefault(spec, [])
        for c in (c for c in run.cells if run.load_spec(c) == spec):
            saved = run.saved_of(c)
            if saved.get("status") != outcomes.OK or spec in run.unavailable:
                run.finish(c, saved, unavailable=run.unavailable.get(spec))
                continue
            art, ref = run.artifact_of(c)
            req = LoadRequest(f"l{len(requests):04d}", c, art, ref, unsafe=run.opts.unsafe)
            if not _reuse(run, req, run.envs[spec], saved):
                requests.append(req)
    busy = len([r for r in per_env.values() if r])
    chunks = {spec: _chunks(run, requests, busy) for spec, requests in per_env.items()}
    left = {spec: len(c) for spec, c in chunks.items()}
    jobs = [lambda spec=spec, chunk=chunk: _load_batch(run, spec, chunk, left)
            for spec, cs in chunks.items() for chunk in cs]
    run.progress.phase("load", len(run.cells))
    if run.reused:
        run.progress.message(f"load cache: {run.reused} cell(s) reused (nothing that "
                              "decides them changed); --fresh redoes them")
    run.parallel(jobs)



def _chunks(run: Run, requests: list, busy_envs: int) -> list[list]:
    """An environment's requests in batches: at most --batch-size each, and split further
    when fewer environments than -j have work, so every core runs a worker."""
    if not requests:
        return []
    workers = max(1, run.opts.jobs // max(1, busy_envs))
    size = max(1, min(run.opts.batch_size, -(-len(requests) // workers)))
    return [requests[i:i + size] for i in range(0, len(requests), size)]



def _reuse(run: Run, req: LoadRequest, env, saved: dict) -> bool:
    """Finish a cell from the load cache when an entry for exactly this artifact, load
    environment, worker code and loader exists; else remember its key for afterwards."""
    if run.loads is None:
        return False
    key = run.loads.key(req, env, saved.get("manifest") or {})
    run.load_keys[req] = key
    hit = run.loads.get(key) if key else None
    if hit is None:
        return False
    result, arrays = hit
    with run.lock:
        run.reused += 1
    run.finish(req.cell, saved, load=LoadOutcome(result | {"log": None}, arrays,
                                                    req.reference_dir),
                 reused_from=result.get("made_by_run"))
    return True



def _load_batch(run: Run, spec: EnvSpec, requests: list[LoadRequest],
                left: dict[EnvSpec, int]) -> None:
    """One batch of an environment's loads; the environment shows `loading` while any of its
    batches runs and `done` after the last."""
    name = env_name(spec.label, spec.device)
    run.progress.env(name, "loading")
    try:
        _load_requests(run, spec, requests)
    finally:
        with run.lock:
            left[spec] -= 1
            last = left[spec] == 0
        if last:
            run.progress.env(name, "done")


def _load_requests(run: Run, spec: EnvSpec, requests: list[LoadRequest]) -> None:
    def on_result(req: LoadRequest, result: dict) -> None:
        key = run.load_keys.get(req)
        if key and run.loads is not None and not run.stop.is_set():
            run.loads.put(key, result, result.get("arrays"), run.run.path.name)
        run.finish(req.cell, run.saved_of(req.cell), load=LoadOutcome(
            result, result.get("arrays"), req.reference_dir))

    run.batch(run.envs[spec], "load", requests, on_result)
