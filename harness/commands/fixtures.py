"""`harness fixtures add|freeze|verify|list`: regression fixtures, artifacts kept as written
and re-checked under every TF version.  `verify` is an ordinary run (cells.jsonl, the table,
report/check/advise/diff/merge) whose save side is the fixture."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from ..errors import UserError
from .common import add_cell_timeout, add_env_options, csv, validate_env_options, writable_folder

DEFAULT_LOAD = "2.21"


def add_parser(sub) -> None:
    p = sub.add_parser("fixtures", help="regression fixtures: add, freeze, verify, list")
    fsub = p.add_subparsers(dest="fixtures_command", required=True)

    a = fsub.add_parser("add", help="keep an artifact (yours, someone's) as a fixture")
    a.add_argument("artifact", type=Path, metavar="ARTIFACT",
                   help="a model file, SavedModel folder, checkpoint prefix or folder")
    a.add_argument("--name", required=True, help="the fixture's name (its cells' model)")
    _reference_options(a)
    a.add_argument("--outputs", type=csv, metavar="TENSORS",
                   help="output tensor names of a frozen GraphDef (e.g. y:0)")
    a.add_argument("--origin", help="where it came from (default: its path)")
    a.add_argument("--license", help="its license (e.g. Apache-2.0)")
    a.add_argument("--description", help="one line about it")
    a.add_argument("--tolerance", metavar="RTOL,ATOL",
                   help="prediction tolerance for this fixture (default: per dtype/format)")
    _common(a)

    f = fsub.add_parser("freeze", help="save zoo models under one TF and keep them as fixtures")
    f.add_argument("--tf", required=True, metavar="SPEC", help="the TF to save under")
    f.add_argument("--models", type=csv, required=True, help="zoo models, comma-separated")
    f.add_argument("--formats", type=csv, required=True, help="formats, comma-separated")
    f.add_argument("--replace", action="store_true", help="replace fixtures of the same name")
    _common(f)

    v = fsub.add_parser("verify", help="load every fixture under TF versions (a run)")
    v.add_argument("names", nargs="*", metavar="NAME", help="fixtures (default: all)")
    v.add_argument("--load", type=csv, default=[DEFAULT_LOAD], metavar="SPECS",
                   help=f"TF version specs to load under (default: {DEFAULT_LOAD})")
    v.add_argument("--results-dir", type=Path, default=Path("results"),
                   help="where results/<run-id>/ goes (default: %(default)s)")
    v.add_argument("--run-id", help="name of the run folder (default: timestamp)")
    v.add_argument("-j", "--jobs", type=int, default=1,
                   help="worker processes at once, one TF each (default: %(default)s)")
    add_cell_timeout(v)
    v.add_argument("--quiet", action="store_true", help="do not print the table")
    _common(v)

    lst = fsub.add_parser("list", help="the fixtures, checked")
    lst.add_argument("names", nargs="*", metavar="NAME")
    lst.add_argument("--dir", type=Path, default=Path("fixtures"),
                     help="the fixtures folder (default: %(default)s)")


def _reference_options(p) -> None:
    p.add_argument("--inputs", type=Path, metavar="X.npz",
                   help="inputs to predict on (x0, x1, ... or named after the model's inputs; "
                        "default: synthesized with a fixed seed)")
    p.add_argument("--expected", type=Path, metavar="Y.npz",
                   help="expected outputs (y0, ...), used where the producer's TF cannot run")
    p.add_argument("--tf", metavar="VERSION",
                   help="the TF that wrote it (required where the artifact records none)")
    p.add_argument("--rtol", type=float, metavar="R",
                   help="relative tolerance of the predictions you accept (recorded in the "
                        "fixture; default: per dtype/format; with --atol alone, 0)")
    p.add_argument("--atol", type=float, metavar="A",
                   help="absolute tolerance of the predictions you accept (recorded in the "
                        "fixture; default: per dtype/format; with --rtol alone, 0)")
    p.add_argument("--custom-objects", type=Path, metavar="FILE.py",
                   help="your custom layers/losses/...: copied, imported by the worker and "
                        "passed as custom_objects to every Keras loader (safe_mode stays on); "
                        "a build_model() in it gives a weights file its architecture, for "
                        "model.load_weights (with --inputs)")


def _common(p) -> None:
    p.add_argument("--dir", type=Path, default=Path("fixtures"),
                   help="the fixtures folder (default: %(default)s)")
    add_env_options(p)


def given_tolerance(args) -> tuple[float, float] | None:
    """(rtol, atol) from --rtol/--atol (one alone: the other 0, as assert_allclose's atol is),
    or from fixtures add's older --tolerance RTOL,ATOL; None: per dtype/format."""
    rtol, atol = getattr(args, "rtol", None), getattr(args, "atol", None)
    old = tolerance(getattr(args, "tolerance", None))
    if rtol is None and atol is None:
        return old
    if old is not None:
        raise UserError("give --rtol/--atol or --tolerance, not both")
    for flag, v in (("--rtol", rtol), ("--atol", atol)):
        if v is not None and not v >= 0:
            raise UserError(f"{flag} {v}: must be >= 0")
    return (rtol or 0.0, atol or 0.0)


def tolerance(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        rtol, atol = (float(x) for x in text.split(","))
    except ValueError:
        raise UserError(f"--tolerance {text!r}: give RTOL,ATOL (e.g. 1e-5,1e-5)") from None
    if not (rtol >= 0 and atol >= 0):
        raise UserError(f"--tolerance {text!r}: both must be >= 0")
    return rtol, atol


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _refuse_links_out(artifact: Path) -> None:
    """A fixture keeps the artifact's bytes in the project: a symlink inside it that points
    outside would copy a file from elsewhere on the machine into it."""
    import os

    if not Path(artifact).is_dir():
        return
    top = Path(artifact).resolve()
    for root, dirs, names in os.walk(artifact):
        for n in dirs + names:
            p = Path(root) / n
            if p.is_symlink():
                target = p.resolve()
                if target != top and top not in target.parents:
                    raise UserError(f"{p} is a link to {target}, outside the artifact: a fixture "
                                    "keeps only the artifact's own files; copy it in or remove "
                                    "the link")


def run_fixtures(fixtures, loads: list[str], args, *, quiet: bool = False):
    """Verify `fixtures` under `loads`: an ordinary run of an explicit plan.  Returns the run
    folder."""
    from ..plan.specs import EnvSpec
    from ..regression.stage import plan
    from ..run import batch as execute
    from ..run import options
    from ..run.runner import Progress, Run, RunOptions

    for spec in loads:
        EnvSpec.parse(spec)  # one line for a spec that cannot mean an environment
    writable_folder(args.results_dir, "--results-dir")
    cells, presaved = plan(fixtures, loads, args.cache_dir)
    opts = RunOptions(cells=cells, presaved=presaved, results_dir=args.results_dir,
                      jobs=max(1, getattr(args, "jobs", 1)), run_id=getattr(args, "run_id", None),
                      command=["harness", *sys.argv[1:]], **options.run_fields(args))
    run = Run(opts, Progress())
    old = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return run.execute().path
    except KeyboardInterrupt:
        execute.kill_all()
        raise
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        run.progress.close()


def main(args) -> int:
    from ..regression import make
    from ..regression.model import find

    cmd = args.fixtures_command
    if cmd == "list":
        fixtures = find(args.dir, args.names)
        for fx in fixtures:
            print(fx.summary())
        root = Path(args.dir)
        left = sorted(p for p in root.glob(".*-*") if p.is_dir())  # a killed add's staging
        total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()
                    and not any(q in p.parents for q in left))
        print(f"{len(fixtures)} fixture(s), {total / 1e6:.1f} MB in {args.dir}")
        for p in left:
            size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
            print(f"note: {p} ({size / 1e6:.1f} MB) is what an interrupted `fixtures add` left; "
                  "not a fixture, not counted: remove it")
        return 0
    validate_env_options(args)
    opts = make.Options(cache_dir=args.cache_dir, backend=args.backend, progress=_say)
    if cmd == "add":
        _refuse_links_out(args.artifact)
        fx = make.add(args.artifact, args.dir, args.name, opts, inputs=args.inputs,
                      expected=args.expected, tf=args.tf, custom_objects=args.custom_objects,
                      origin=args.origin, license=args.license, description=args.description,
                      tolerance=given_tolerance(args), outputs=args.outputs)
        print(f"added {fx.path}: {fx.summary()}")
        print(f"  reference: {fx.reference.get('detail')}")
        return 0
    if cmd == "freeze":
        made = make.freeze(args.tf, args.models, args.formats, args.dir, opts,
                           replace=args.replace)
        for fx in made:
            print(f"{fx.path}: {fx.summary()}")
        wanted = len(args.models) * len(args.formats)
        print(f"froze {len(made)}/{wanted} artifact(s) under TF {args.tf}")
        return 0
    fixtures = find(args.dir, args.names)
    if args.jobs < 1:
        raise UserError(f"-j/--jobs must be at least 1, not {args.jobs}")
    path = run_fixtures(fixtures, args.load, args)
    if not args.quiet:
        from ..reports.terminal import terminal_table

        print(terminal_table(path))
    print(f"\nresults: {path}")
    return 0
