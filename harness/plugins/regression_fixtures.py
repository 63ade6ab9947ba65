"""pytest front end for regression fixtures: one item per fixture x load version.

    pytest --compat-fixtures fixtures/ --compat-load 2.12,2.16,2.21

The fixtures are checked first (a changed file is a usage error naming it).  The first item
runs `harness fixtures verify` for every selected fixture under its load version (one run per
load version, TF imported once); each item then reports its own cells: it passes when the
fixture's native loader (the first of its format) passes, is skipped when that loader does not
exist there, and fails otherwise with every loader's status and the library's message.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from ..run import options

_STATE = pytest.StashKey["FixtureState"]()
DEFAULT_LOAD = "2.21"
PLUGIN_OPTIONS = ("cache-dir", "backend", "as-of", "python", "cell-timeout")


def pytest_addoption(parser):
    group = parser.getgroup("compat-fixtures", "TF regression fixtures (tf-compat-harness)")
    group.addoption("--compat-fixtures", metavar="DIR",
                    help="turn every fixture under DIR into one test item per load version")
    group.addoption("--compat-load", metavar="SPECS", default=DEFAULT_LOAD,
                    help=f"TF versions to load fixtures under (default: {DEFAULT_LOAD})")
    options.add_to_pytest(parser, PLUGIN_OPTIONS)  # the same --compat-cache-dir, ... as `run`


def pytest_configure(config):
    path = config.getoption("--compat-fixtures", None)
    if not path:
        return
    from ..errors import HarnessError
    from ..regression.model import find

    try:
        fixtures = find(Path(path))
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    loads = [s.strip() for s in config.getoption("--compat-load").split(",") if s.strip()]
    given = options.from_pytest(config, PLUGIN_OPTIONS)
    try:
        options.validate(given)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_STATE] = FixtureState(config, Path(path), fixtures, loads, given)
    source = getattr(config, "args_source", None)
    if source is not None and source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(path)]


def pytest_collect_directory(path: Path, parent):
    state = parent.config.stash.get(_STATE, None)
    if state is not None and Path(path).resolve() == state.path.resolve():
        return FixturesDir.from_parent(parent, path=path)
    return None


class FixtureState:
    def __init__(self, config, path: Path, fixtures: list, loads: list[str], given=None):
        self.config, self.path, self.fixtures, self.loads = config, path, fixtures, loads
        self.options = options.run_fields(given) if given else {}
        self.rows: dict[str, list[dict]] = {}  # load version -> rows
        self.failed: dict[str, str] = {}

    def rows_for(self, load: str, selected: list) -> list[dict]:
        if load not in self.rows and load not in self.failed:
            self._run(load, selected)
        if load in self.failed:
            pytest.fail(f"the run under TF {load} failed: {self.failed[load]}", pytrace=False)
        return self.rows[load]

    def _run(self, load: str, selected: list) -> None:
        from ..regression.stage import plan
        from ..results.store import read_run
        from ..run.runner import Progress, Run, RunOptions

        results = Path(tempfile.mkdtemp(prefix="compat-fixtures-"))
        fields = self.options or options.run_fields(options.from_pytest(self.config,
                                                                        PLUGIN_OPTIONS))
        try:
            cells, presaved = plan(selected, [load], fields["cache_dir"])
            opts = RunOptions(cells=cells, presaved=presaved, results_dir=results, jobs=1,
                              **fields)
            path = Run(opts, Progress()).execute().path
            self.rows[load] = read_run(path).rows
        except Exception as exc:  # an environment that cannot be made: every item says so
            self.failed[load] = f"{type(exc).__name__}: {exc}"


class FixturesDir(pytest.Directory):
    def collect(self):
        state = self.config.stash[_STATE]
        for fx in state.fixtures:
            for load in state.loads:
                yield FixtureItem.from_parent(self, name=f"{fx.name}@{load}", fixture=fx,
                                              load=load)


class FixtureItem(pytest.Item):
    def __init__(self, *, fixture, load: str, **kw):
        super().__init__(**kw)
        self.fixture, self.load = fixture, load
        self.add_marker(pytest.mark.tf)

    def runtest(self):
        state = self.config.stash[_STATE]
        selected = [it.fixture for it in self.session.items
                    if isinstance(it, FixtureItem) and it.load == self.load]
        rows = [r for r in state.rows_for(self.load, selected)
                if r["model"] == self.fixture.name]
        native = self.fixture.loaders()[0]
        mine = {r["loader"]: r for r in rows}
        row = mine.get(native)
        summary = "; ".join(f"{lo}: {r['status']}" + (f" ({r.get('error_type')}: "
                            f"{str(r.get('error') or '')[:160]})" if r.get("error") else "")
                            for lo, r in mine.items())
        if row is None:
            pytest.fail(f"no cell for {native}", pytrace=False)
        if row["status"] == "unsupported":
            pytest.skip(f"{native} does not exist under TF {self.load}: {row.get('error')}")
        if row["status"] != "pass":
            pytest.fail(f"{self.fixture.name} under TF {self.load}: {native} is "
                        f"{row['status']}; {summary}", pytrace=False)

    def reportinfo(self):
        return self.fixture.path, None, f"{self.fixture.name} loaded under TF {self.load}"
