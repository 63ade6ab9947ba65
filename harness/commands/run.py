"""`harness run`: save under some TF versions, load under others, compare, print the table."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from pathlib import Path

from ..errors import UserError
from ..run import options
from .common import add_cell_timeout, add_env_options, csv, validate_env_options, writable_folder


def add_parser(sub) -> None:
    run = sub.add_parser("run", help="save under some TF versions, load under others, compare")
    run.add_argument("--matrix", type=Path, metavar="TOML",
                     help="a matrix spec (matrix/smoke.toml, matrix/nightly.toml); the axis "
                          "options below, when given too, replace its axes")
    run.add_argument("--save", type=csv, metavar="SPECS",
                     help="TF version specs to save under, comma-separated (2.12,2.16.1,"
                          "2.16+tf_keras,2.16+keras==3.3.3)")
    run.add_argument("--load", type=csv, metavar="SPECS",
                     help="TF version specs to load under")
    run.add_argument("--models", type=csv, help="zoo models (default: all)")
    run.add_argument("--formats", type=csv, help="formats (default: all)")
    run.add_argument("--loaders", type=csv, help="loaders (default: every loader of a format)")
    run.add_argument("--devices", type=csv, metavar="DEVICES",
                     help="devices for both sides: cpu, cpu-noonednn, gpu (default: cpu)")
    run.add_argument("--save-devices", type=csv, metavar="DEVICES", help="devices to save on")
    run.add_argument("--load-devices", type=csv, metavar="DEVICES", help="devices to load on")
    run.add_argument("--no-baseline", dest="baseline", action="store_false",
                     help="with --save X --load Y: skip the X -> X cells that tell an upgrade's "
                          "breaks from what X already fails (the saves are the same; they cost "
                          "one more load pass)")
    run.add_argument("--shard", metavar="K/N",
                     help="run only the K-th of N deterministic slices of the cells (join the "
                          "shards with `harness merge`); `auto`: K and N from the CI job's "
                          "variables (GitHub via HARNESS_SHARD_INDEX/TOTAL, GitLab, CircleCI, "
                          "Buildkite, Kubernetes Indexed Jobs)")
    run.add_argument("--shard-costs", metavar="RUN|none", default=None,
                     help="cut the shards by the cells' measured seconds in RUN (default: the "
                          "newest complete run of the same matrix under --results-dir; none: "
                          "by cell count); every shard of one night must see the same")
    run.add_argument("--resume", type=Path, metavar="RUN",
                     help="finish only the cells results/<run-id> does not have yet")
    run.add_argument("--no-save-cache", dest="save_cache", action="store_false",
                     help="save every artifact anew instead of reusing the save cache")
    run.add_argument("--save-only", action="store_true",
                     help="only make the saves the plan needs (fills the save cache)")
    run.add_argument("--save-cache-dir", type=Path, metavar="DIR",
                     help="where the save cache lives (default: <cache-dir>/saves)")
    run.add_argument("--results-dir", type=Path, default=Path("results"),
                     help="where results/<run-id>/ goes (default: %(default)s)")
    run.add_argument("--run-id", help="name of the run folder (default: timestamp)")
    run.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                     help="worker processes at once, one TF each (default: the cores, %(default)s)")
    add_cell_timeout(run)
    run.add_argument("--batch-size", type=int, default=500,
                     help="load cells per worker process, bounding its memory "
                          "(default: %(default)s)")
    run.add_argument("--quiet", action="store_true",
                     help="no progress on the screen, only the table (and errors)")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="a progress line per cell, also on a terminal")
    run.add_argument("--detail", action="store_true",
                     help="the table with a row per model x format x loader")
    run.add_argument("--fresh", action="store_true",
                     help="redo every load cell instead of reusing results that nothing has "
                          "changed since (the load cache under --cache-dir)")
    run.add_argument("--unsafe", action="store_true",
                     help="let Keras loaders run code stored in artifacts (Lambda layers): only "
                          "for artifacts you trust")
    run.add_argument("--memory-limit", type=int, metavar="MB", dest="memory_limit_mb",
                     help="memory limit of each worker process (default: none)")
    add_env_options(run)


AXIS_FLAGS = ("save", "load", "models", "formats", "loaders", "devices", "save_devices",
              "load_devices")


def _check_numbers(args) -> None:
    if args.jobs < 1:
        raise UserError(f"-j/--jobs must be at least 1, not {args.jobs}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, not {args.batch_size}")


def _check_paths(args) -> None:
    """Every folder and interpreter named, before any environment is installed."""
    validate_env_options(args)
    if args.save_cache_dir is not None:
        writable_folder(args.save_cache_dir, "--save-cache-dir")
    if args.resume:
        return
    if args.run_id is not None:
        rid = args.run_id
        if not rid.strip() or rid in (".", "..") or "/" in rid or "\\" in rid or "\0" in rid:
            raise UserError(f"--run-id {rid!r}: must be a plain folder name (no '/', not "
                            "'..', not empty)")
        run = args.results_dir / rid
        if run.exists() or run.is_symlink():
            raise UserError(f"{run} exists: finish it with `harness run --resume {run}`")
    writable_folder(args.results_dir, "--results-dir")


def build_options(args):
    from ..plan.cells import parse_shard
    from ..plan.matrix import Matrix
    from ..run.runner import RunOptions

    _check_numbers(args)
    for f in AXIS_FLAGS:
        if getattr(args, f) == []:  # `--models ,` or `--models ""`: not "every model"
            raise UserError(f"--{f.replace('_', '-')} is empty")
    if args.save_only and not args.save_cache:
        raise UserError("--save-only fills the save cache: it cannot go with --no-save-cache")
    given = [f for f in AXIS_FLAGS if getattr(args, f)]
    matrix = None
    if args.resume:
        if args.matrix or given or args.shard:
            raise UserError("--resume takes the plan from the run it resumes; drop --matrix, "
                            "--shard and the axis options")
    elif args.matrix:
        matrix = Matrix.load(args.matrix)
        overrides = {f: getattr(args, f) for f in given if f != "devices"}
        if args.devices:
            overrides.setdefault("save_devices", args.devices)
            overrides.setdefault("load_devices", args.devices)
        if overrides:
            matrix = dataclasses.replace(matrix, **overrides)
            matrix.validate()
    elif not (args.save and args.load):
        raise UserError("give --save and --load, or --matrix FILE, or --resume RUN")
    _check_paths(args)
    shard = None
    if args.shard == "auto":
        from ..plan.shards import auto_shard

        shard, source = auto_shard()
        print(f"harness: shard {shard[0]}/{shard[1]} from {source}", file=sys.stderr)
    elif args.shard:
        shard = parse_shard(args.shard)
    if args.memory_limit_mb is not None and args.memory_limit_mb < 256:
        raise UserError(f"--memory-limit {args.memory_limit_mb}: give megabytes, at least 256 "
                        "(TensorFlow alone needs about 1 GB)")
    return RunOptions(
        save=args.save or [], load=args.load or [], models=args.models, formats=args.formats,
        loaders=args.loaders, devices=args.devices, save_devices=args.save_devices,
        load_devices=args.load_devices, matrix=matrix, results_dir=args.results_dir,
        jobs=args.jobs, run_id=args.run_id, **options.run_fields(args),
        shard=shard, shard_costs=shard_costs(args, matrix) if shard else None,
        resume=args.resume,
        save_cache=args.save_cache, save_only=args.save_only, save_cache_dir=args.save_cache_dir,
        batch_size=args.batch_size, load_cache=not args.fresh, unsafe=args.unsafe,
        memory_limit_mb=args.memory_limit_mb, baseline=args.baseline,
        command=["harness", *sys.argv[1:]] if sys.argv and "harness" in sys.argv[0] else None)


def shard_costs(args, matrix):
    """The measured seconds the shards are cut by (shards.Costs), or None: by cell count."""
    from ..plan.matrix import from_flags
    from ..results.costs import choose_costs

    def definition() -> dict:  # the matrix the run will record, as_of applied
        m = matrix or from_flags(args.save or [], args.load or [], args.models, args.formats,
                                 args.loaders, args.devices, args.save_devices,
                                 args.load_devices, baseline=args.baseline)
        return (dataclasses.replace(m, as_of=args.as_of) if args.as_of else m).to_dict()

    return choose_costs(args.shard_costs, args.results_dir, definition)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(args) -> int:
    from ..reports.terminal import terminal_table
    from ..run import batch as execute
    from ..run.progress import make_progress
    from ..run.runner import Run

    mode = "quiet" if args.quiet else "verbose" if args.verbose else "auto"
    run = Run(build_options(args), make_progress(mode))
    # SIGTERM (a CI job cancelled, `kill`) and SIGHUP (the terminal closed) stop a run as
    # Ctrl-C does: workers killed, finished cells kept, the resume command printed.
    old = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        run_dir = run.execute()
    except KeyboardInterrupt as exc:
        execute.kill_all()
        why = f" by {exc.args[0]}" if exc.args else ""
        print(f"harness: interrupted{why} after {run.done} cells{_resume_hint(run)}",
              file=sys.stderr)
        return 130
    except (execute.HostIOError, OSError) as exc:  # disk full, folder gone: the run's error
        execute.kill_all()
        text = exc if isinstance(exc, execute.HostIOError) else \
            f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}".lstrip(": ")
        print(f"harness: error: {text}; the run stopped after {run.done} cells"
              f"{_resume_hint(run)}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        run.progress.close()
    if not args.save_only:
        print(terminal_table(run_dir.path, detail=args.detail))
    print(f"\nresults: {run_dir.path}")
    return 0


def _resume_hint(run) -> str:
    if run.run is None:
        return ""
    return (f"; finished cells are in {run.run.cells_file}; finish with "
            f"`harness run --resume {run.run.path}`")
