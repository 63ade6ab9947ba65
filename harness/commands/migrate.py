"""`harness migrate ARTIFACT --to 2.16`: turn an artifact that breaks on the upgrade into one the
target loads natively, and prove it (harness/migrate/, docs/migration.md).

Routes are tried in order until one proves out: the candidate is loaded under every --to version
with the native loader and judged against the original's reference from the producer's TF, with
the same comparison as every cell.  Only then is the migrated artifact written
(`model.migrated-2.16.keras` beside the input; `--out DIR` for a serving SavedModel).  Exit 0
when a route passed, 1 when none did (the report says why each failed), 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UserError
from .common import add_cell_timeout, add_env_options, csv, validate_env_options, writable_folder
from .fixtures import _reference_options


def add_parser(sub) -> None:
    p = sub.add_parser("migrate", help="turn an artifact that breaks on the upgrade into one "
                                       "that loads, and prove it")
    p.add_argument("artifact", type=Path, metavar="ARTIFACT",
                   help="a model file, SavedModel folder, weights file, or a fixture folder")
    p.add_argument("--to", type=csv, required=True, metavar="SPECS",
                   help="the TF version(s) it must load under (2.16 or 2.16,2.21); the first "
                        "writes the migrated artifact, every one proves it")
    p.add_argument("--out", type=Path, metavar="PATH",
                   help="where the migrated artifact goes: a .keras file, or a folder for a "
                        "serving SavedModel (default: ARTIFACT's name + .migrated-<to>.keras "
                        "beside it)")
    p.add_argument("--plan", action="store_true",
                   help="print the routes it would try, write nothing")
    _reference_options(p)
    p.add_argument("--unsafe", action="store_true",
                   help="let Keras deserialize code (Lambda layers); only for artifacts you trust")
    p.add_argument("--results-dir", type=Path, default=Path("results"),
                   help="where the report folder goes (default: %(default)s)")
    p.add_argument("--run-id", help="the report folder's name (default: migrate-<timestamp>)")
    add_cell_timeout(p)
    add_env_options(p)


def default_dest(artifact: Path, target: str) -> Path:
    """`model.h5` -> `model.migrated-2.16.keras` beside it; a folder `exported/1` ->
    `exported/1.migrated-2.16.keras`; a checkpoint prefix likewise."""
    path = artifact.resolve()
    stem = path.name if path.is_dir() or not path.suffix else path.stem
    if stem.endswith(".weights"):
        stem = stem[: -len(".weights")]
    return path.parent / f"{stem}.migrated-{target}.keras"


def _output(args, targets: list[str]) -> tuple[str, Path]:
    from ..migrate.routes import KERAS, SERVING

    if args.out is None:
        dest = default_dest(args.artifact, targets[0])
        kind = KERAS
    elif args.out.suffix == ".keras":
        dest, kind = args.out, KERAS
    else:
        dest, kind = args.out, SERVING
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise UserError(f"--out {dest}: exists and is not an empty folder (a SavedModel is "
                            "never written over anything)")
    if kind == KERAS and dest.exists():
        raise UserError(f"{dest} exists: remove it first, or give --out")
    writable_folder(dest.parent if kind == KERAS else dest.parent, "--out")
    return kind, dest


def _is_fixture(path: Path) -> bool:
    from ..regression.model import FIXTURE_FILE

    return path.is_dir() and (path / FIXTURE_FILE).is_file()


def _fixture(args, targets: list[str]):
    """The artifact as a fixture: a fixture folder as it is, else `harness try`'s cached one
    (format and producer from the bytes, inputs, the producer's reference)."""
    from ..regression.model import read
    from .try_cmd import prepare

    if _is_fixture(args.artifact):
        given = [o for o in ("inputs", "expected", "tf", "custom_objects") if getattr(args, o)]
        if given:
            raise UserError(f"{args.artifact} is a fixture: it brings its own inputs, reference "
                            f"and code (--{given[0].replace('_', '-')} does not apply)")
        fx = read(args.artifact)
        fx.check()
        return fx
    ns = argparse.Namespace(**vars(args))
    ns.load = targets
    return prepare(ns)


def _plan(args, targets: list[str], kind: str) -> int:
    from ..migrate.report import plan_lines
    from ..migrate.routes import routes_for
    from ..migrate.runner import check_migratable, legacy_spec
    from ..regression import make
    from ..regression.inspect import check_artifact, inspect_artifacts, problem

    if _is_fixture(args.artifact):
        from ..regression.model import read

        fx = read(args.artifact)
        fmt, producer = fx.format, make.producer_spec(fx.producer)
    else:
        check_artifact(args.artifact)
        (info,) = inspect_artifacts([args.artifact], make.Options(args.cache_dir).inspect_tf,
                                    args.cache_dir, backend="uv")
        bad = problem(info)
        if bad:
            raise UserError(bad)
        fmt = info["format"]
        producer = make.producer_spec(make.producer_of(info, args.tf))
    check_migratable(fmt)  # --plan refuses what the run would refuse
    specs = {"target": targets[0], "legacy": legacy_spec(targets[0]), "producer": producer}
    print("\n".join(plan_lines(fmt, producer, targets, routes_for(kind), specs.get)))
    return 0


def main(args) -> int:
    from .. import clock
    from ..migrate.report import render
    from ..migrate.runner import run_routes, write_report
    from ..plan.specs import EnvSpec

    validate_env_options(args)
    targets = list(dict.fromkeys(args.to or []))
    if not targets:
        raise UserError("--to is empty")
    for spec in targets:
        EnvSpec.parse(spec)
    if not args.artifact.exists() and not Path(str(args.artifact) + ".index").exists():
        raise UserError(f"{args.artifact}: no such file or folder")
    if args.custom_objects is not None and not args.custom_objects.is_file():
        raise UserError(f"--custom-objects {args.custom_objects}: no such file")
    kind, dest = _output(args, targets)
    if args.plan:
        return _plan(args, targets, kind)
    writable_folder(args.results_dir, "--results-dir")
    report_dir = Path(args.results_dir) / (args.run_id or f"migrate-{clock.stamp()}")
    if report_dir.exists():
        raise UserError(f"{report_dir} exists: give another --run-id")
    fx = _fixture(args, targets)
    outcomes, winner = run_routes(fx, targets, kind, dest, report_dir, args)
    report = report_dir / "migration.json"
    text = render(fx, targets, kind, dest, outcomes, winner, report)
    write_report(report_dir, {
        "artifact": str(args.artifact), "fixture": fx.name, "format": fx.format,
        "producer": fx.producer, "reference": fx.reference.get("detail"), "targets": targets,
        "output": kind, "written": str(dest) if winner else None,
        "route": winner.route.name if winner else None,
        "routes": [o.to_json() for o in outcomes], "text": text})
    print(text)
    sys.stdout.flush()
    return 0 if winner else 1
