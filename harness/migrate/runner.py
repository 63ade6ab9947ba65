"""The route runner: the artifact becomes a fixture (format and producer from its bytes, inputs
synthesized, the reference from the producer's TF: `harness try`'s machinery), then each route
is tried in order: its steps run in their environments (the worker's `migrate` phase), and the
candidate is proven by an ordinary run of explicit cells (harness.plan.presaved): the candidate
loaded under every target with the target's native loader, judged against the ORIGINAL's
reference.  The first route whose cells all pass writes the migrated artifact; otherwise nothing
but the report is written.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..digests import sha256_file
from ..errors import HarnessError, UserError
from ..plan.cells import Cell
from ..plan.presaved import Presaved
from ..regression.model import CUSTOM_OBJECTS_FILE
from .routes import KERAS, MIGRATABLE, OUTPUT_ENTRY, PROOF_LOADER, SERVING, Route, routes_for

REPORT_FILE = "migration.json"


@dataclass
class Outcome:
    """What one route did: its steps (environment, notes, the library's message), its proof
    cells, and the verdict."""

    route: Route
    status: str = "not tried"  # pass | mismatch | load-error | step-failed | skipped | ...
    message: str | None = None
    steps: list[dict] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    proof_run: str | None = None

    def to_json(self) -> dict:
        keep = ("load_tf", "status", "error_type", "error", "params_total", "params_equal",
                "params_missing", "params_extra", "params_value", "max_abs_diff", "rtol",
                "load_versions", "notes", "resume_ok")
        return {"route": self.route.name, "output": self.route.output, "what": self.route.what,
                "status": self.status, "message": self.message, "steps": self.steps,
                "proof_run": self.proof_run,
                "cells": [{k: r.get(k) for k in keep} for r in self.rows]}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _version(spec: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in spec.split("+")[0].split("."))


def keras3(spec: str) -> bool:
    """TF 2.16+ without +tf_keras: Keras 3 is what tf.keras is."""
    return _version(spec)[:2] >= (2, 16) and "tf_keras" not in spec


def legacy_spec(target: str) -> str | None:
    """The target's legacy Keras environment (`2.16+tf_keras`), where the target has Keras 3."""
    if not keras3(target):
        return None
    major, minor = _version(target)[:2]
    return f"{major}.{minor}+tf_keras"


# -- environments ------------------------------------------------------------------------------
class Environments:
    """The environments a route's steps run in, made once and shared by every route."""

    def __init__(self, fx, targets: list[str], args):
        from ..regression import make

        self.fx, self.targets, self.args = fx, targets, args
        self.opts = make.Options(cache_dir=args.cache_dir, backend=args.backend, progress=say)
        self._made: dict[str, tuple] = {}

    def spec_of(self, role: str) -> tuple[str | None, str | None]:
        from ..regression import make

        if role == "target":
            return self.targets[0], None
        if role == "legacy":
            spec = legacy_spec(self.targets[0])
            return (spec, None) if spec else \
                (None, f"TF {self.targets[0]} has Keras 2 already: no legacy Keras to add")
        spec = make.producer_spec(self.fx.producer)
        return (spec, None) if spec else (None, "the artifact records no TF version (--tf)")

    def get(self, role: str):
        """(environment, None) or (None, why it cannot be had here)."""
        spec, why = self.spec_of(role)
        if spec is None:
            return None, why
        if spec not in self._made:
            self._made[spec] = self._make(spec)
        return self._made[spec]

    def _make(self, spec: str):
        from ..envs import get_backend
        from ..plan.specs import EnvSpec
        from ..regression import make

        try:
            if spec == self.targets[0] or spec.endswith("+tf_keras"):
                env = get_backend(self.args.backend)(EnvSpec.parse(spec), self.args.cache_dir,
                                                     as_of=self.args.as_of,
                                                     python=self.args.python)
                env.check()
            else:
                env, why = make.usable_env(spec, self.opts)
                if env is None:
                    return None, why
            say(f"migrate: preparing TF {spec} ({env.backend})")
            env.create()
            return env, None
        except HarnessError as exc:
            return None, str(exc)


# -- one route ---------------------------------------------------------------------------------
def _request(rid: str, route: str, step: str, fx, art: Path, out: Path, handoff: Path | None,
             inputs: list, args) -> dict:
    manifest = json.loads((art / "manifest.json").read_text())
    custom = art / manifest["custom_objects"] if manifest.get("custom_objects") else None
    return {"id": rid, "route": route, "step": step, "artifact": str(art),
            "format": fx.format, "model": fx.zoo_model or fx.name, "zoo": bool(fx.zoo_model),
            "out_dir": str(out), "handoff": str(handoff) if handoff else None,
            "inputs": inputs, "custom_objects": str(custom) if custom else None,
            "unsafe": bool(getattr(args, "unsafe", False))}


def _one_line(text, paths: dict | None = None) -> str:
    """One line, with this machine's folders as placeholders (`<cache>`, `<env 2.16>`, `~`)."""
    from ..scrub import scrub_paths

    return scrub_paths(" ".join(str(text or "").split()), paths or {})


def _paths(args, envs: Environments) -> dict:
    from ..scrub import machine_paths

    known = {str(Path(args.cache_dir).resolve()): "<cache>"}
    for spec, (env, _) in envs._made.items():
        if env is not None and getattr(env, "location", None):
            known[str(env.location)] = f"<env {spec}>"
    return machine_paths(known)


def run_steps(route: Route, envs: Environments, fx, art: Path, ref_meta: dict, work: Path,
              args, outcome: Outcome) -> Path | None:
    """Run the route's steps; the candidate's folder, or None (the outcome says why)."""
    handoff = None
    for i, (role, step) in enumerate(route.steps):
        env, why = envs.get(role)
        entry = {"role": role, "step": step, "env": envs.spec_of(role)[0]}
        outcome.steps.append(entry)
        if env is None:
            outcome.status, outcome.message = "skipped", f"no {role} environment: {why}"
            entry["status"] = "skipped"
            return None
        entry["env"] = env.label
        out = work / f"{i}-{step}"
        req = _request(f"m{i}", route.name, step, fx, art, out, handoff,
                       ref_meta.get("inputs") or [], args)
        res = _run_step(env, req, work / f"{i}-worker", args.cell_timeout)
        paths = _paths(args, envs)
        notes = {k: _one_line(v, paths) if isinstance(v, str) else v
                 for k, v in (res.get("notes") or {}).items()}
        entry.update({"status": res.get("status"), "notes": notes})
        if res.get("status") != "ok":
            msg = f"{res.get('error_type') or res.get('status')}: " \
                  f"{_one_line(res.get('error'), paths)}"
            entry["error"] = msg
            outcome.status = "step-failed"
            outcome.message = f"{step} under {env.label}: {msg}"
            return None
        handoff = out
    return handoff


def _run_step(env, req: dict, work: Path, timeout: float) -> dict:
    from ..run import batch as execute

    results: list[dict] = []
    try:
        execute.run_batch(env, "migrate", [req], work, cell_timeout=timeout,
                          on_result=lambda r, res: results.append(res))
    finally:
        execute.kill_all()
    return results[0] if results else {"status": "crash", "error": "the worker gave no result"}


def _candidate_manifest(folder: Path, output: str, model: str, versions: dict) -> dict:
    entry = OUTPUT_ENTRY[output]
    return {"format": output, "model": model, "entry": entry,
            "on_disk_format": "zip" if output == KERAS else "savedmodel-directory",
            "producer": versions, "written_by": "harness migrate",
            "files": {str(p.relative_to(folder)): {"sha256": sha256_file(p),
                                                   "bytes": p.stat().st_size}
                      for p in sorted(folder.rglob("*")) if p.is_file()}}


def prove(route: Route, candidate: Path, fx, ref_dir: Path, targets: list[str], report_dir: Path,
          args, outcome: Outcome) -> None:
    """The proof: the candidate as a Presaved whose reference is the original's, loaded under
    every target with the native loader, rows built by harness.verdict.rows like every cell."""
    from ..regression.stage import identity
    from ..results.store import read_run
    from ..run.progress import QuietProgress
    from ..run.runner import Run, RunOptions

    step_notes = outcome.steps[-1].get("notes") or {}
    versions = {k: step_notes.get(k) for k in ("tf", "keras") if step_notes.get(k)}
    if fx.custom_objects:  # loaded as the user will: with the custom objects they gave
        shutil.copy2(fx.custom_objects, candidate / CUSTOM_OBJECTS_FILE)
    manifest = _candidate_manifest(candidate, route.output, fx.zoo_model or fx.name, versions)
    if fx.custom_objects:
        manifest["custom_objects"] = CUSTOM_OBJECTS_FILE
    (candidate / "manifest.json").write_text(json.dumps(manifest, indent=1))
    pv = {k: v for k, v in fx.producer.items() if k in ("tf", "keras", "numpy", "python") and v}
    presaved = Presaved(fx.save_tf, fx.name, route.output, candidate, ref_dir, manifest=manifest,
                        versions=pv, identity=identity(fx) | {"migrated_by": route.name,
                                                              "migrated_under": versions},
                        tolerance=fx.tolerance, on_disk_format=manifest["on_disk_format"])
    cells = [Cell(fx.save_tf, "cpu", t, "cpu", fx.name, route.output, PROOF_LOADER[route.output])
             for t in targets]
    opts = RunOptions(cells=cells, presaved=[presaved], results_dir=report_dir,
                      cache_dir=args.cache_dir, backend=args.backend, as_of=args.as_of,
                      python=args.python, jobs=1, cell_timeout=args.cell_timeout,
                      run_id=f"proof-{route.name}", command=["harness", *sys.argv[1:]])
    run = Run(opts, QuietProgress())
    try:
        path = run.execute().path
    finally:
        run.progress.close()
    outcome.proof_run = str(path)
    outcome.rows = sorted(read_run(path).rows, key=lambda r: _version(r["load_tf"]))
    bad = [r for r in outcome.rows if r.get("status") != "pass"]
    if not outcome.rows:
        outcome.status, outcome.message = "crash", "the proof run wrote no row"
    elif not bad:
        outcome.status = "pass"
    else:
        outcome.status = bad[0]["status"]
        outcome.message = f"under {bad[0]['load_tf']}: " + _one_line(
            (f"{bad[0].get('error_type')}: " if bad[0].get("error_type") else "")
            + str(bad[0].get("error") or ""))[:400]


# -- a checkpoint's reference: its values, and the outputs the user's code gives with them ----
def needs_model_reference(fx, ref_meta: dict) -> bool:
    """A weights file or checkpoint of the user's (no zoo code) whose reference came from a
    reader of values: no outputs, and every checkpoint key (optimizer slots too) a name."""
    from .routes import WEIGHTS

    return fx.format in WEIGHTS and not fx.zoo_model and not ref_meta.get("n_outputs") \
        and bool(ref_meta.get("inputs"))


def _arrays(folder: Path) -> dict:
    import numpy as np

    with np.load(folder / "reference.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def model_reference(fx, art: Path, ref_dir: Path, ref_meta: dict, envs: Environments,
                    work: Path, args) -> tuple[Path, str]:
    """The proof's reference for a checkpoint: the model the user's code builds, restored in
    the producer's TF (else the target's legacy Keras), predicting on the reference's inputs;
    used only when each of its parameters is bit-identical to a value the checkpoint's own
    reader gave.  Else the reader's reference stays (and the proof says what it lacks)."""
    original = _arrays(ref_dir)
    values = [v for k, v in original.items() if k.startswith("p")]
    tried = []
    for role in ("producer", "legacy"):
        env, why = envs.get(role)
        if env is None:
            tried.append(f"{role}: {why}")
            continue
        req = _request("r0", "reference", "reference", fx, art, work / role, None,
                       ref_meta.get("inputs") or [], args) | {"reference_dir": str(ref_dir)}
        res = _run_step(env, req, work / f"{role}-worker", args.cell_timeout)
        if res.get("status") != "ok":
            tried.append(f"{env.label}: {res.get('error_type')}: "
                         f"{_one_line(res.get('error'), _paths(args, envs))[:300]}")
            continue
        derived = _arrays(work / role)
        meta = json.loads((work / role / "reference.json").read_text())
        unmatched = [n for i, n in enumerate(meta["param_names"])
                     if not any(v.dtype == derived[f"p{i}"].dtype and v.shape ==
                                derived[f"p{i}"].shape and v.tobytes() == derived[f"p{i}"]
                                .tobytes() for v in values)]
        if unmatched:
            tried.append(f"{env.label}: {len(unmatched)} parameter(s) of the restored model are "
                         f"no value of the checkpoint (first: {unmatched[0]})")
            continue
        skipped = len(values) - len(meta["param_names"])
        return work / role, (f"the outputs of build_model() with the checkpoint restored under "
                             f"{env.label}; its {len(meta['param_names'])} parameters each "
                             f"bit-identical to a value the checkpoint's reader gave"
                             + (f" ({skipped} other value(s), e.g. optimizer slots, are no "
                                "parameter)" if skipped > 0 else ""))
    return ref_dir, "the checkpoint reader's values only (" + "; ".join(tried) + ")"


# -- the whole migration -----------------------------------------------------------------------
def check_migratable(fmt: str) -> None:
    """What `migrate` refuses, the run and --plan alike (exit 2)."""
    if fmt not in MIGRATABLE:
        raise UserError(f"{fmt}: harness migrate reads Keras model files, SavedModels and "
                        f"Keras weights files ({', '.join(MIGRATABLE)}), not a {fmt}")


def run_routes(fx, targets: list[str], output: str, dest: Path, report_dir: Path, args
               ) -> tuple[list[Outcome], Outcome | None]:
    from ..regression.stage import stage

    check_migratable(fx.format)
    art, ref_dir = stage(fx, args.cache_dir)
    ref_meta = json.loads((ref_dir / "reference.json").read_text())
    envs = Environments(fx, targets, args)
    outcomes: list[Outcome] = []
    work_root = Path(tempfile.mkdtemp(prefix="harness-migrate-", dir=_tmp_parent(args)))
    try:
        if needs_model_reference(fx, ref_meta):
            ref_dir, fx.data["migrate_reference"] = model_reference(
                fx, art, ref_dir, ref_meta, envs, work_root / "reference", args)
            ref_meta = json.loads((ref_dir / "reference.json").read_text())
        for route in routes_for(output):
            outcome = Outcome(route)
            outcomes.append(outcome)
            say(f"migrate: route {route.name}")
            candidate = run_steps(route, envs, fx, art, ref_meta, work_root / route.name, args,
                                  outcome)
            if candidate is not None:
                prove(route, candidate, fx, ref_dir, targets, report_dir, args, outcome)
            say(f"migrate: route {route.name}: {outcome.status}"
                + (f" ({outcome.message[:200]})" if outcome.message else ""))
            if outcome.status == "pass":
                _install(candidate / OUTPUT_ENTRY[output], dest)
                return outcomes, outcome
        return outcomes, None
    finally:
        shutil.rmtree(work_root, ignore_errors=True)


def _tmp_parent(args) -> Path:
    parent = Path(args.cache_dir) / "migrate"
    parent.mkdir(parents=True, exist_ok=True)
    return parent


def _install(src: Path, dest: Path) -> None:
    """The migrated artifact, written only now that a route passed (atomically: beside, then
    renamed)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    if src.is_dir():
        shutil.copytree(src, tmp)
    else:
        shutil.copy2(src, tmp)
    if dest.is_dir() and not any(dest.iterdir()):
        dest.rmdir()
    if src.is_dir():
        try:  # rename onto a folder that appeared meanwhile fails unless it is empty
            tmp.rename(dest) if not dest.exists() else _taken(tmp, dest)
        except OSError:
            _taken(tmp, dest)
        return
    try:  # a file: link, which never replaces one the user made at dest during the run
        os.link(tmp, dest)
    except FileExistsError:
        _taken(tmp, dest)
    except OSError:  # no hard links here: a last check, then the rename
        if dest.exists():
            _taken(tmp, dest)
        tmp.rename(dest)
        return
    tmp.unlink()


def _taken(tmp: Path, dest: Path) -> None:
    from ..errors import UserError

    raise UserError(f"{dest} appeared while the migration ran (it was not there at the start); "
                    f"nothing replaced it: the migrated artifact is at {tmp}")


def write_report(report_dir: Path, data: dict) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / REPORT_FILE
    path.write_text(json.dumps(data, indent=1, default=str))
    return path


__all__ = ["run_routes", "write_report", "Outcome", "keras3", "legacy_spec", "SERVING", "KERAS"]
