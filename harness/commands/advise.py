"""`harness advise --from 2.12 --to 2.16 [RUN]`: what breaks on that upgrade, per format and
loader, and what works instead, from a run's real cells."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .common import add_select_options, selection


def add_parser(sub) -> None:
    p = sub.add_parser("advise", help="what breaks when upgrading TF, and what works instead")
    p.add_argument("--from", dest="old", required=True, metavar="VERSION",
                   help="the TF version the models were saved with (2.12, 2.12.1, 2.16+tf_keras)")
    p.add_argument("--to", dest="new", required=True, metavar="VERSION",
                   help="the TF version to upgrade to")
    p.add_argument("run", type=Path, nargs="?",
                   help="results/<run-id> folder (default: the newest run under --results-dir "
                        "that has both versions)")
    p.add_argument("--results-dir", type=Path, default=Path("results"),
                   help="where to look for runs (default: %(default)s)")
    p.add_argument("--width", type=int, default=None, metavar="COLUMNS",
                   help="wrap to this many columns (default: the terminal's; 160 when piped)")
    add_select_options(p)


def check_version(option: str, text: str) -> None:
    """A TF version that exists: otherwise no run can hold it and no command can make one."""
    from ..plan.specs import TF_PYTHONS, EnvSpec

    spec = EnvSpec.parse(text)
    if spec.minor not in TF_PYTHONS:
        known = ", ".join(f"{a}.{b}" for a, b in TF_PYTHONS)
        raise UserError(f"{option} {text}: not a TensorFlow release this harness knows "
                        f"(known: {known})")


def main(args) -> int:
    from ..findings.advise import Advisor, find_run, render
    from ..results.view import RunView

    check_version("--from", args.old)
    check_version("--to", args.new)
    if args.run is not None and not (args.run / "run.json").is_file():
        raise UserError(f"{args.run}: not a run folder (no run.json)")
    run = args.run or find_run(args.results_dir, args.old, args.new)
    print(render(Advisor(RunView(run, select=selection(args)), args.old, args.new),
                 width=args.width), end="")
    return 0
