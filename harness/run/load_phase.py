"""The LOAD phase of a run, pipelined with the SAVE phase: every artifact loaded with every
loader in every load environment, or its result reused from the load cache
(harness.cache.loads) when nothing that decides it changed; each result becomes the cell's row
(Run.finish -> harness.verdict.rows).

Load workers start while the saves still run (their TF import overlaps the saves) and take each
artifact's cells as soon as it is saved: every save that is recorded feeds its cells to the
`Feed` of each load environment (harness.run.batch), and the workers of one environment pull from
it a few requests at a time, so a worker started later shares what is left.  Which worker gets
a free slot is `_score`'s choice (harness.run.slots): an environment's first worker before an extra
one, and an extra one only while its share of the work left there (cells x their mean time so
far) outweighs a TF import.
"""

from __future__ import annotations

import json
import threading

from ..plan.cells import Cell, env_name
from ..plan.requests import LoadRequest
from ..plan.specs import EnvSpec
from ..verdict.rows import LoadOutcome
from ..worker import outcomes
from .batch import Feed
from .context import PhaseContext

# An extra worker for an environment that has one already costs a TF import (2-9 s here); it
# starts only while each worker would still get at least IMPORT_MARGIN times that import of what
# is left there (cells left times that environment's mean cell time so far, CELL_SECONDS before
# any; the import as its workers of this run measured it, IMPORT_SECONDS before any).
IMPORT_MARGIN = 1.5
IMPORT_SECONDS = 5.0
CELL_SECONDS = 0.2


def _needs_two_cpus(c: Cell) -> bool:
    return c.model == "mirrored" or "MirroredStrategy" in c.loader


class LoadPipeline:
    def __init__(self, ctx: PhaseContext):
        self.ctx = ctx
        self.waiting: dict[tuple, list[Cell]] = {}  # save key -> its cells not yet fed
        self.feeds: dict[EnvSpec, Feed] = {}
        self.planned: dict[EnvSpec, int] = {}
        self.two_cpus: dict[EnvSpec, bool] = {}
        self.ids: dict[EnvSpec, int] = {}
        for c in ctx.cells:
            self.waiting.setdefault(ctx.layout.save_key(c), []).append(c)
            spec = ctx.layout.load_spec(c)
            self.feeds.setdefault(spec, Feed())
            self.planned[spec] = self.planned.get(spec, 0) + 1
            self.two_cpus[spec] = self.two_cpus.get(spec, False) or _needs_two_cpus(c)
        self.future = dict(self.planned)  # cells not yet fed nor finished, per environment
        self.feeding = 0  # saved() calls under way
        self.timed: dict[EnvSpec, tuple[int, float]] = {}  # cells run, their seconds
        self.imports: dict[EnvSpec, float] = {}  # a TF import there, as measured
        self.lock = threading.Lock()
        self.workers_left: dict[EnvSpec, int] = {}
        self.running: dict[EnvSpec, int] = {}

    def start(self) -> list:
        """The load worker jobs (they wait for their feed); cells whose artifact exists
        already (pre-saved) are fed now."""
        self.ctx.progress.phase("load", len(self.ctx.cells))
        for key in list(self.waiting):
            if self.ctx.layout.is_presaved(key):
                self.saved(key)
        envs = [s for s in self.feeds if s not in self.ctx.unavailable]
        jobs = []
        for spec in envs:
            # up to -j workers each, fewer where the environment has few cells; whether the
            # extra ones start is decided when a slot is free (_score)
            n = max(1, min(self.ctx.opts.jobs, self.planned[spec]))
            self.workers_left[spec] = n
            self.running[spec] = 0
            jobs += [lambda spec=spec: self._worker(spec) for _ in range(n)]
        return jobs

    def _score(self, spec: EnvSpec) -> float | None:
        """This environment's claim on a free slot for one more worker: None = nothing left
        for it, 0 = not now, else higher first (harness.run.slots)."""
        feed = self.feeds[spec]
        if feed.exhausted or self.ctx.stop.is_set():
            return None
        ready = len(feed)
        with self.lock:
            running, left = self.running[spec], self.future[spec]
        if ready < 1:  # nothing to take yet (or all of it came from the load cache)
            return 0
        if running == 0:  # the environment's first worker: before any extra one
            return 1e6 + ready
        share = left * self.cell_seconds(spec) / (running + 1)
        return share if share >= IMPORT_MARGIN * self.import_seconds(spec) else 0

    def import_seconds(self, spec: EnvSpec) -> float:
        """How long a TF import took this run's workers in `spec` (their versions.json)."""
        if spec not in self.imports:
            key = self.ctx.envs[spec].key
            seen = []
            for f in (self.ctx.layout.run_path / "work").glob(f"*-{key}*/versions.json"):
                try:
                    seen.append(float(json.loads(f.read_text()).get("import_seconds")))
                except (OSError, ValueError, TypeError, AttributeError):
                    continue
            if not seen:
                return IMPORT_SECONDS
            self.imports[spec] = max(seen)
        return self.imports[spec]

    def cell_seconds(self, spec: EnvSpec) -> float:
        n, total = self.timed.get(spec, (0, 0.0))
        return total / n if n else CELL_SECONDS

    def timed_cell(self, spec: EnvSpec, seconds) -> None:
        if isinstance(seconds, (int, float)) and seconds >= 0:
            with self.lock:
                n, total = self.timed.get(spec, (0, 0.0))
                self.timed[spec] = (n + 1, total + seconds)

    def saved(self, key: tuple) -> None:
        """A save was recorded (or its artifact existed before the run): finish the cells it
        cannot serve, reuse what the load cache has, and feed the rest to their workers."""
        with self.lock:
            cells = self.waiting.pop(key, [])
            self.feeding += 1
        try:
            self._feed(cells)
        finally:
            with self.lock:
                self.feeding -= 1
                last = not self.waiting and self.feeding == 0
            if last:  # every save is recorded: the feeds end (a save worker that went on
                self.close()  # loading must not wait for its own save job to return)

    def _feed(self, cells: list[Cell]) -> None:
        ctx = self.ctx
        feed: dict[EnvSpec, list[LoadRequest]] = {}
        for c in cells:
            spec = ctx.layout.load_spec(c)
            saved = ctx.layout.saved_of(c)
            if saved.get("status") != outcomes.OK or spec in ctx.unavailable:
                self._settled(spec)
                ctx.sink.finish(c, saved, unavailable=ctx.unavailable.get(spec))
                continue
            art, ref = ctx.layout.artifact_of(c)
            with self.lock:
                self.ids[spec] = self.ids.get(spec, 0) + 1
                rid = f"l{self.ids[spec]:05d}"
            req = LoadRequest(rid, c, art, ref, unsafe=ctx.opts.unsafe)
            if _reuse(ctx, req, ctx.envs[spec], saved):
                self._settled(spec)
            else:
                feed.setdefault(spec, []).append(req)
        for spec, requests in feed.items():
            self.feeds[spec].put(requests)

    def follow_on(self, spec: EnvSpec):
        """For a save batch in `spec`: (then, finish, two_cpus).  `then()` (asked when its
        saves are done) makes its worker one of `spec`'s load workers, TF already imported,
        when that environment has cells ready, no save waits for the slot and another worker
        there is worth it (_score); `finish()` after the batch; `two_cpus`: the worker must
        start with the two logical CPUs those loads need.  (None, None, False) where `spec` has
        no loads."""
        if spec not in self.feeds or spec in self.ctx.unavailable:
            return None, None, False
        took = []

        def then():
            if self.ctx.workers.slots.saves_pending() or not self._score(spec):
                return None
            self._running(spec, +1)
            took.append(True)
            name = env_name(spec.label, spec.device)
            self.ctx.progress.worker(name, "load", +1, fresh=False)  # TF imported already
            self.ctx.progress.env(name, "loading")
            return self.feeds[spec]

        def finish():
            if took:
                self._running(spec, -1)
                self.ctx.progress.worker(env_name(spec.label, spec.device), "load", -1,
                                         fresh=False)
        return then, finish, self.two_cpus[spec]

    def _running(self, spec: EnvSpec, change: int) -> None:
        """A worker of `spec` started (+1: a load job, or a save worker that went on) or
        ended (-1): what _score counts."""
        with self.lock:
            self.running[spec] += change

    def _settled(self, spec: EnvSpec, n: int = 1) -> None:
        with self.lock:
            self.future[spec] = self.future.get(spec, 0) - n

    def close(self) -> None:
        """Every save is recorded: cells still waiting (none, unless a save phase was cut
        short) are dropped, and the feeds end."""
        for feed in self.feeds.values():
            feed.close()

    def _worker(self, spec: EnvSpec) -> None:
        ctx, feed = self.ctx, self.feeds[spec]
        name = env_name(spec.label, spec.device)
        try:
            if not ctx.workers.slots.load(lambda: self._score(spec)):
                return  # nothing left for this worker to do
            self._running(spec, +1)
            ctx.progress.worker(name, "load", +1)
            try:
                ctx.progress.env(name, "loading")
                ctx.workers.batch(ctx.envs[spec], "load", [], on_load_result(ctx, self), feed=feed,
                          two_cpus=self.two_cpus[spec])
            finally:
                self._running(spec, -1)
                ctx.progress.worker(name, "load", -1)
                ctx.workers.slots.release()
        finally:
            with self.lock:
                self.workers_left[spec] -= 1
                last = self.workers_left[spec] == 0
            if last:
                ctx.progress.env(name, "done")


def on_load_result(ctx: PhaseContext, pipeline: LoadPipeline):
    def on_result(req: LoadRequest, result: dict) -> None:
        spec = ctx.layout.load_spec(req.cell)
        pipeline._settled(spec)
        pipeline.timed_cell(spec, result.get("seconds"))
        key = ctx.tally.load_keys.get(req)
        if key and ctx.loads is not None and not ctx.stop.is_set():
            ctx.loads.put(key, result, result.get("arrays"), ctx.layout.run_path.name)
        entry = ctx.loads.entry(key) if key and ctx.loads is not None else None
        ctx.sink.finish(req.cell, ctx.layout.saved_of(req.cell), load=LoadOutcome(
            result, result.get("arrays"), req.reference_dir, entry))
    return on_result


def _reuse(ctx: PhaseContext, req: LoadRequest, env, saved: dict) -> bool:
    """Finish a cell from the load cache when an entry for exactly this artifact, load
    environment, worker code and loader exists; else remember its key for afterwards."""
    if ctx.loads is None:
        return False
    key = ctx.loads.key(req, env, saved.get("manifest") or {})
    ctx.tally.load_keys[req] = key
    hit = ctx.loads.get(key) if key else None
    if hit is None:
        return False
    result, arrays = hit
    with ctx.lock:
        ctx.tally.reused += 1
    ctx.sink.finish(req.cell, saved, load=LoadOutcome(result | {"log": None}, arrays,
                                                 req.reference_dir, ctx.loads.entry(key)),
               reused_from=result.get("made_by_run"))
    return True
