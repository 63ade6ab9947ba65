"""The SAVE phase of a run: each save environment builds the zoo models it needs and saves
them in every format, through the verified save cache (harness.cache.saves) unless it is off.
An environment's saves are split by model across the slots saves may use (-j, less one for the
load workers that run beside them: harness.run.load_phase); the run's slots (harness.run.slots)
count
every save job from the start, so that no load worker takes a slot a save still needs.  Every
recorded save goes to Run.record_saved, which hands its cells on to the load workers at once."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

from ..cache.saves import place
from ..plan.cells import env_name
from ..plan.requests import LoadRequest, SaveRequest
from ..plan.specs import EnvSpec
from ..scrub import scrub_paths
from ..worker import outcomes
from .context import PhaseContext
from .load_phase import on_load_result


def save_jobs(ctx: PhaseContext) -> list:
    """One job per save environment (its saves split by model across its share of the worker
    slots); saves that cannot happen here are recorded at once."""
    jobs = []
    to_save = [c for c in ctx.cells if not ctx.layout.presaved_of(c)]
    ctx.progress.phase("save", len({(ctx.layout.save_spec(c), c.model, c.format) for c in to_save}))
    for spec in dict.fromkeys(ctx.layout.save_spec(c) for c in to_save):
        pairs = list(dict.fromkeys((c.model, c.format) for c in to_save
                                   if ctx.layout.save_spec(c) == spec))
        if spec in ctx.unavailable:
            for m, f in pairs:
                ctx.sink.record_saved((spec, m, f), {"status": outcomes.UNSUPPORTED,
                                                "error_type": "NoDevice",
                                                "error": ctx.unavailable[spec]})
            continue
        jobs.append(lambda spec=spec, pairs=pairs: _save_env(ctx, spec, pairs))
    return jobs


def _save_env(ctx: PhaseContext, spec: EnvSpec, pairs: list[tuple[str, str]]) -> None:
    name = env_name(spec.label, spec.device)
    ctx.progress.env(name, "saving")
    asked = [False]  # this job's save slot: asked for by its batches, or given up
    try:
        _save_pairs(ctx, spec, pairs, name, asked)
    finally:
        if not asked[0]:
            ctx.workers.slots.save_skipped()
        ctx.progress.env(name, "saved")


def _save_pairs(ctx: PhaseContext, spec: EnvSpec, pairs: list[tuple[str, str]], name: str,
                asked: list) -> None:
    if ctx.saves is None:
        requests = []
        for i, (m, f) in enumerate(pairs):
            art = ctx.layout.artifact_dir(spec, m, f)
            shutil.rmtree(art, ignore_errors=True)  # a resumed run re-saves, clean
            requests.append(SaveRequest(f"s{i:04d}", m, f, art, ctx.layout.artifact_dir(spec, m)))
        _save_batch(ctx, spec, requests, None, asked)
        return
    entry = ctx.saves.entry(ctx.envs[spec])
    with entry.lock():  # another run saving the same entry: wait, then reuse its work
        requests = []
        for m, f in pairs:
            hit = entry.get(m, f)
            for line in _drain(entry):
                ctx.progress.message(scrub_paths(line, ctx.paths))
            if hit is not None:
                with ctx.lock:
                    ctx.tally.save_hits += 1
                _record_save(ctx, spec, m, f, hit, entry)
                continue
            entry.prepare(m, f)
            requests.append(SaveRequest(f"s{len(requests):04d}", m, f,
                                        entry.artifact_dir(m, f), entry.reference_dir(m)))
        if len(requests) < len(pairs):
            ctx.progress.message(f"save {name}: {len(pairs) - len(requests)}/{len(pairs)}"
                                  " from the save cache")
        if requests:
            _save_batch(ctx, spec, requests, entry, asked)



def _record_save(ctx: PhaseContext, spec: EnvSpec, model: str, fmt: str, result: dict, entry,
                 fresh: bool = False) -> None:
    """Record a save result; from the cache, place the artifact into the run.  `fresh`: a
    worker saved it just now (its seconds are this run's, for the progress display's ETA)."""
    if entry is not None and result.get("status") == outcomes.OK:
        ref = ctx.layout.artifact_dir(spec, model)
        for name in ("reference.json", "reference.npz"):
            place(entry.reference_dir(model) / name, ref / name)
        place(entry.artifact_dir(model, fmt), ctx.layout.artifact_dir(spec, model, fmt))
    ctx.progress.saved(env_name(spec.label, spec.device), model, fmt,
                       result.get("status"), result.get("error_type"),
                       seconds=result.get("seconds") if fresh else None)
    ctx.sink.record_saved((spec, model, fmt), result)



def _save_batch(ctx: PhaseContext, spec: EnvSpec, requests: list[SaveRequest], entry,
                asked: list) -> None:
    def on_result(req: SaveRequest, result: dict) -> None:
        # under --memory-limit a crash may be the limit's doing, not TF's: never cached
        limited = ctx.opts.memory_limit_mb and result.get("status") == outcomes.CRASH
        if entry is not None and not limited:
            entry.put(req.model, req.format, result)
        _record_save(ctx, spec, req.model, req.format, result, entry, fresh=True)

    groups = _by_model(requests, ctx.save_groups)
    ctx.workers.slots.expect_saves(len(groups) - 1)  # its one counted save becomes len(groups)
    asked[0] = True
    if len(groups) == 1:
        _save_group(ctx, spec, requests, on_result)
        return
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:  # within this env's -j share
        for fut in [pool.submit(_save_group, ctx, spec, g, on_result) for g in groups]:
            fut.result()


def _save_group(ctx: PhaseContext, spec: EnvSpec, requests: list[SaveRequest], on_result) -> None:
    """One save worker; when its saves are done it may go on loading in the same environment
    (LoadPipeline.follow_on): one TF import for both."""
    then = finish = None
    two_cpus = False  # (a batch with the `mirrored` model gets two anyway: worker/main.py)
    if ctx.pipeline is not None:
        then, finish, two_cpus = ctx.pipeline.follow_on(spec)
    loads = on_load_result(ctx, ctx.pipeline) if then else None

    def on_any(req, result: dict) -> None:
        (loads if isinstance(req, LoadRequest) else on_result)(req, result)

    try:
        ctx.workers.batch(ctx.envs[spec], "save", requests, on_any, then=then, two_cpus=two_cpus)
    finally:
        if finish:
            finish()


def _by_model(requests: list[SaveRequest], groups: int) -> list[list[SaveRequest]]:
    """Save requests in at most `groups` batches, each model whole (a worker builds a model
    once and saves it in every format), balanced by request count."""
    models: dict[str, list[SaveRequest]] = {}
    for r in requests:
        models.setdefault(r.model, []).append(r)
    out: list[list[SaveRequest]] = [[] for _ in range(min(groups, len(models)) or 1)]
    for reqs in sorted(models.values(), key=len, reverse=True):
        min(out, key=len).extend(reqs)
    return [g for g in out if g]


def _drain(entry) -> list[str]:
    """The save cache's one-line reports of entries it refused (moved aside, to be redone)."""
    rejected = getattr(entry, "rejected", None)
    if not rejected:
        return []
    out = list(rejected)
    rejected.clear()
    return out
