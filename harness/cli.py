"""The `harness` command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__


class UserError(Exception):
    """Bad input: one line on stderr, non-zero exit, no traceback."""


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _add_env_options(p: argparse.ArgumentParser) -> None:
    from .envs import default_cache_dir

    p.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                   help="where environments live (default: %(default)s; env HARNESS_CACHE)")
    p.add_argument("--backend", default="uv", choices=["uv"], help="environment backend")
    p.add_argument("--as-of", metavar="DATE",
                   help="resolve packages as of DATE (YYYY-MM-DD; uv --exclude-newer)")
    p.add_argument("--python", metavar="PATH",
                   help="interpreter to build environments from (default: this one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness", description="Does a TF model saved under one TF version load under "
        "another, with the same parameters and predictions?")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="save under some TF versions, load under others, compare")
    run.add_argument("--save", required=True, type=_csv, metavar="SPECS",
                     help="TF version specs to save under, comma-separated (2.12,2.16.1,"
                          "2.16+tf_keras,2.16+keras==3.3.3)")
    run.add_argument("--load", required=True, type=_csv, metavar="SPECS",
                     help="TF version specs to load under")
    run.add_argument("--models", type=_csv, help="zoo models (default: all)")
    run.add_argument("--formats", type=_csv, help="formats (default: all)")
    run.add_argument("--loaders", type=_csv, help="loaders (default: every loader of a format)")
    run.add_argument("--results-dir", type=Path, default=Path("results"),
                     help="where results/<run-id>/ goes (default: %(default)s)")
    run.add_argument("--run-id", help="name of the run folder (default: timestamp)")
    run.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                     help="environments worked on at once (default: %(default)s)")
    run.add_argument("--cell-timeout", type=float, default=600.0,
                     help="seconds one cell may take (default: %(default)s)")
    _add_env_options(run)

    envs = sub.add_parser("envs", help="list, create or remove environments")
    envs_sub = envs.add_subparsers(dest="envs_command", required=True)
    lst = envs_sub.add_parser("list", help="environments in the cache")
    create = envs_sub.add_parser("create", help="create (or reuse) environments")
    create.add_argument("specs", nargs="+")
    remove = envs_sub.add_parser("remove", help="remove environments")
    remove.add_argument("specs", nargs="+")
    for p in (lst, create, remove):
        _add_env_options(p)

    show = sub.add_parser("show", help="print the table of a finished (or interrupted) run")
    show.add_argument("run", type=Path, help="results/<run-id> folder")
    return parser


def cmd_run(args) -> int:
    from .report import terminal_table
    from .runner import Progress, Run, RunOptions

    if args.jobs < 1:
        raise UserError("-j/--jobs must be at least 1")
    opts = RunOptions(save=args.save, load=args.load, models=args.models, formats=args.formats,
                      loaders=args.loaders, results_dir=args.results_dir, cache_dir=args.cache_dir,
                      backend=args.backend, as_of=args.as_of, python=args.python, jobs=args.jobs,
                      cell_timeout=args.cell_timeout, run_id=args.run_id)
    run = Run(opts, Progress())
    try:
        run_dir = run.execute()
    except KeyboardInterrupt:
        from . import execute

        execute.kill_all()
        where = f"; finished cells are in {run.run.cells_file}" if run.run else ""
        print(f"harness: interrupted after {run.done} cells{where}", file=sys.stderr)
        return 130
    print(terminal_table(run_dir.path))
    print(f"\nresults: {run_dir.path}")
    return 0


def _envs_for(args):
    from .envs import get_backend
    from .specs import EnvSpec

    backend = get_backend(args.backend)
    return [backend(EnvSpec.parse(s), args.cache_dir, as_of=args.as_of, python=args.python)
            for s in args.specs]


def cmd_envs(args) -> int:
    from .envs import get_backend

    if args.envs_command == "list":
        rows = get_backend(args.backend).list_installed(args.cache_dir)
        if not rows:
            print(f"no environments in {args.cache_dir}")
        for r in rows:
            print(f"{r['spec']:<18} tf {r.get('resolved_tf')}, keras {r.get('resolved_keras')}, "
                  f"numpy {r.get('resolved_numpy')}, python {r.get('resolved_python')}"
                  f"{', as of ' + r['as_of'] if r.get('as_of') else ''}  {r['path']}")
        return 0
    for env in _envs_for(args):
        if args.envs_command == "create":
            info = env.create(progress=lambda m: print(m, file=sys.stderr))
            print(f"{env.spec.label:<18} tf {info['tf']}, keras {info.get('keras')}, "
                  f"numpy {info.get('numpy')}  {env.path}")
        else:
            print(f"{'removed' if env.remove() else 'not present'}: {env.spec.label} ({env.path})")
    return 0


def cmd_show(args) -> int:
    from .report import terminal_table

    if not (args.run / "run.json").exists():
        raise UserError(f"{args.run} is not a run folder (no run.json)")
    print(terminal_table(args.run))
    return 0


def main(argv: list[str] | None = None) -> int:
    from .envs import EnvError
    from .plan import PlanError
    from .specs import SpecError

    args = build_parser().parse_args(argv)
    handlers = {"run": cmd_run, "envs": cmd_envs, "show": cmd_show}
    try:
        return handlers[args.command](args)
    except (UserError, SpecError, PlanError, EnvError, FileExistsError) as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
