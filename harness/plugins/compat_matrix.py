"""pytest front end: the cells of a matrix spec as pytest items.

    pytest -p harness.plugins.compat_matrix --compat-matrix matrix/smoke.toml
    pytest -p harness.plugins.compat_matrix --compat-matrix matrix/smoke.toml -n 2 --dist loadgroup
    \\
        --junitxml=compat.xml

Each cell is one item (`2.12->2.16 mlp h5 keras.models.load_model`), so -k picks cells,
pytest-xdist spreads them and CI dashboards get JUnit XML.  Cells are not run one process
each (TF takes seconds to import): the first item of a load environment runs, through the
harness runner, every selected cell of that environment in one batch (saves come from the save
cache), and each item then reports its own row.  Under pytest-xdist the processes of a session
share one results folder and a file lock per load environment, so each environment runs once
whichever worker its items land on; items also carry an `xdist_group` mark per load
environment, for `--dist loadgroup`.

Outcomes: pass -> passed; unsupported -> skipped with the reason; a status that
matrix/expectations.toml expects for the cell -> xfailed with the expectation's reason; a cell
expected to fail that passes -> failed (update the expectations); anything else -> failed with
the status and the library's message.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from pathlib import Path

import pytest

from ..errors import UserError
from ..plan.cells import Cell
from ..run import options

_STATE = pytest.StashKey["CompatState"]()
PLUGIN_OPTIONS = ("cache-dir", "backend", "as-of", "python", "cell-timeout")


def pytest_addoption(parser):
    group = parser.getgroup("compat-matrix", "TF compatibility matrix (tf-compat-harness)")
    group.addoption("--compat-matrix", metavar="TOML",
                    help="turn the cells of this matrix spec into test items")
    group.addoption("--compat-expectations", metavar="TOML",
                    help="known incompatibilities (default: expectations.toml next to the "
                         "matrix spec, if there is one)")
    group.addoption("--compat-results", metavar="DIR",
                    help="where the runs behind the items go (default: a temporary folder)")
    # --compat-cache-dir, --compat-backend, --compat-as-of, --compat-python,
    # --compat-cell-timeout: `harness run`'s own options (harness.run.options)
    options.add_to_pytest(parser, PLUGIN_OPTIONS)


def pytest_configure(config):
    path = config.getoption("--compat-matrix")
    if not path:
        return
    config.addinivalue_line("markers", "tf: runs real TensorFlow in real uv environments")
    from ..plan.matrix import Matrix, MatrixError

    try:
        matrix = Matrix.load(Path(path))
    except MatrixError as exc:
        raise pytest.UsageError(str(exc)) from None
    given = options.from_pytest(config, PLUGIN_OPTIONS)
    try:
        options.validate(given)
    except UserError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_STATE] = CompatState(config, Path(path), matrix, given)
    # `pytest --compat-matrix X` means "test X": without explicit paths, collect only the spec.
    source = getattr(config, "args_source", None)
    if source is not None and source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(path)]


def pytest_collect_file(file_path: Path, parent):
    state = parent.config.stash.get(_STATE, None)
    if state is not None and file_path.resolve() == state.path.resolve():
        return MatrixFile.from_parent(parent, path=file_path)
    return None


class CompatState:
    """What the items of one pytest process share: the matrix, the expectations and the rows
    of the load environments run so far."""

    def __init__(self, config, path: Path, matrix, given=None):
        self.config = config
        self.options = given  # the shared run options (harness.run.options) as given
        self.path = path
        self.matrix = matrix
        self.expectations = self._expectations()
        self.rows: dict[tuple, dict] = {}
        self.failed_groups: dict[str, str] = {}
        self.ran_groups: set[str] = set()
        self._results: Path | None = None

    def _expectations(self):
        given = self.config.getoption("--compat-expectations")
        path = Path(given) if given else self.path.parent / "expectations.toml"
        if not path.exists():
            if given:
                raise pytest.UsageError(f"--compat-expectations {given}: no such file")
            return None
        try:
            from ..findings import expectations
        except ImportError as exc:
            raise pytest.UsageError(f"{path} exists but harness.findings.expectations cannot be "
                                    f"imported: {exc}") from None
        try:
            return expectations.load(path)
        except Exception as exc:  # a bad expectations file is a usage error, in one line
            raise pytest.UsageError(f"{path}: {exc}") from None

    def results_dir(self) -> Path:
        """One folder for every process of the session: xdist workers share it, so a load
        environment runs once whichever worker its items went to."""
        if self._results is None:
            given = self.config.getoption("--compat-results")
            uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
            if given:
                self._results = Path(given)
            elif uid:
                self._results = Path(tempfile.gettempdir()) / f"compat-matrix-{uid}"
            else:
                self._results = Path(tempfile.mkdtemp(prefix="compat-matrix-"))
            self._results.mkdir(parents=True, exist_ok=True)
        return self._results

    def run_group(self, group: str, cells: list[Cell]) -> None:
        """Run every selected cell of one load environment in one batch, once per session:
        the first process to get here runs it under a file lock, the others read its rows."""
        self.ran_groups.add(group)
        run_dir = self.results_dir() / re.sub(r"[^\w.+-]", "_", group)
        failed = run_dir.with_name(run_dir.name + ".failed")
        with open(run_dir.with_name(run_dir.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (run_dir / "run.json").exists() and not failed.exists():
                self._run(run_dir, cells, failed)
        if failed.exists():
            self.failed_groups[group] = failed.read_text()
            return
        from ..results.store import read_rows

        for row in read_rows(run_dir / "cells.jsonl"):
            self.rows[Cell.from_row(row).key()] = row

    def _run(self, run_dir: Path, cells: list[Cell], failed: Path) -> None:
        from ..run.runner import Progress, Run, RunOptions

        opts = RunOptions(matrix=self.matrix, only={c.key() for c in cells},
                          results_dir=run_dir.parent, run_id=run_dir.name, jobs=1,
                          **options.run_fields(self.options))
        try:
            Run(opts, Progress()).execute()
        except Exception as exc:  # every item of the group reports it, in one line
            failed.write_text(f"{type(exc).__name__}: {exc}")


def group_of(cell: Cell) -> str:
    return cell.load_env


def item_name(cell: Cell) -> str:
    def side(tf, device):
        return tf if device == "cpu" else f"{tf}@{device}"

    return (f"{side(cell.save_tf, cell.save_device)}->{side(cell.load_tf, cell.load_device)} "
            f"{cell.model} {cell.format} {cell.loader}")


class MatrixFile(pytest.File):
    def collect(self):
        state: CompatState = self.config.stash[_STATE]
        for cell in state.matrix.cells():
            item = CellItem.from_parent(self, name=item_name(cell), cell=cell)
            item.add_marker(pytest.mark.xdist_group(name=group_of(cell)))
            item.add_marker(pytest.mark.tf)
            yield item


class CellFailed(Exception):
    pass


class CellItem(pytest.Item):
    def __init__(self, *, cell: Cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.group = group_of(cell)

    def runtest(self):
        state: CompatState = self.config.stash[_STATE]
        if self.group not in state.ran_groups:
            cells = [it.cell for it in self.session.items
                     if isinstance(it, CellItem) and it.group == self.group]
            state.run_group(self.group, cells)
        if self.group in state.failed_groups:
            raise CellFailed(f"the run of load environment {self.group} failed: "
                             f"{state.failed_groups[self.group]}")
        row = state.rows.get(self.cell.key())
        if row is None:
            raise CellFailed("the run wrote no row for this cell")
        judge_row(row, state.expectations.match(row) if state.expectations else None)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, CellFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, self.name


def describe(row: dict) -> str:
    from ..verdict import decide as verdict

    what = f"{row['status']}"
    kind = verdict.kind(row)
    if kind in (verdict.VALUES, verdict.TRAINING):  # the words of every report
        what += f" ({verdict.KIND_WORDS[kind]})"
    if row.get("error_type"):
        what += f" ({row['error_type']})"
    if row.get("error"):
        what += f": {str(row['error'])[:1500]}"
    if row.get("param_diffs"):
        what += f"\nparameters that differ: {row['param_diffs']}"
    return what


def judge_row(row: dict, exp) -> None:
    """A cell's outcome as pytest sees it, with the verdicts of `harness check`: no entry and
    pass/unsupported is fine; the entry's own status is expected; anything else is news."""
    status = row["status"]
    if status == "unsupported":  # never a failure, whatever an entry says (as harness check)
        pytest.skip(f"unsupported: {row.get('error') or (exp and exp.reason)}")
    if exp is None or status == exp.status:
        if status == "pass":
            return
        if exp is not None:
            pytest.xfail(f"{status}: {exp.reason}")
        raise CellFailed(describe(row))
    if status == "pass":
        raise CellFailed(f"expected {exp.status} ({exp.reason}), but it passes now: update "
                         "the expectations")
    raise CellFailed(f"expected {exp.status} ({exp.reason}), got " + describe(row))
