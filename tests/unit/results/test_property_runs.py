"""Property tests (hypothesis) of the one reader of a run folder, harness.results.store.read_run,
which show, report, check, diff, merge, advise and --resume all go through: any run.json and any
cells.jsonl either read (rows that are rows kept, every other line counted, the plan against
them) or fail with one line (a HarnessError), never another exception.  And every command that
reads a run says so in one line or works: no internal error."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.errors import HarnessError
from harness.plan.cells import KEY_FIELDS
from harness.results.store import read_run
from harness.vocab import STATUSES

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

CELL = {"save_tf": "2.12", "save_device": "cpu", "load_tf": "2.16", "load_device": "cpu",
        "model": "mlp", "format": "h5", "loader": "h5py.File"}
SCALARS = st.one_of(st.text(max_size=6), st.integers(), st.floats(), st.booleans(), st.none(),
                    st.sampled_from([*STATUSES, *CELL.values()]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from([*KEY_FIELDS, "status", "matrix", "definition", "cell_keys",
                                     "shard", "only", "x"]), inner, max_size=5)), max_leaves=10)
ROW = st.fixed_dictionaries({}, optional={k: st.one_of(st.just(v), SCALARS)
                                          for k, v in CELL.items()}
                            | {"status": st.one_of(st.sampled_from(STATUSES), SCALARS)})
LINE = st.one_of(ROW.map(json.dumps), JSON.map(json.dumps), st.text(max_size=30),
                 st.binary(max_size=30).map(lambda b: b.decode("latin-1")))


def write_run(root: Path, info: bytes, lines: list[str]) -> Path:
    run = root / "run"
    run.mkdir(exist_ok=True)
    (run / "run.json").write_bytes(info)
    text = "\n".join(line.replace("\n", " ") for line in lines) + "\n"
    (run / "cells.jsonl").write_bytes(text.encode("utf-8", "surrogateescape"))
    return run


INFO = st.one_of(
    JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40),
    st.builds(lambda keys: json.dumps({"matrix": {"cell_keys": keys}}).encode(),
              st.lists(st.one_of(st.just(list(CELL.values())), st.lists(SCALARS, max_size=8)),
                       max_size=3)),
    st.builds(lambda d: json.dumps({"matrix": {"definition": d}}).encode(), JSON),
)


@SETTINGS
@given(info=INFO, lines=st.lists(LINE, max_size=8))
def test_any_run_folder_reads_or_fails_in_one_line(tmp_path, info, lines):
    run = write_run(tmp_path, info, lines)
    try:
        data = read_run(run)
    except HarnessError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    # a line is blank as bytes are (ASCII whitespace): str.strip() would also drop \x1c-\x1f
    written = [ln.replace("\n", " ").encode("utf-8", "surrogateescape") for ln in lines]
    assert len(data.rows) + data.bad_lines <= len([ln for ln in written if ln.strip()]) + 1
    for row in data.rows:
        assert row["status"] in STATUSES and all(isinstance(row[k], str) for k in
                                                  ("save_tf", "load_tf", "model", "format",
                                                   "loader"))
    if data.planned is not None:
        assert len(data.missing) <= len(data.planned)
        data.completeness()  # never raises


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(info=INFO, lines=st.lists(LINE, max_size=5))
def test_every_reader_command_answers_or_says_why_in_one_line(tmp_path, capsys, info, lines):
    run = write_run(tmp_path, info, lines)
    for argv in (["show", str(run)], ["check", str(run)], ["diff", str(run), str(run)]):
        rc = main(argv)
        err = capsys.readouterr().err
        assert "internal error" not in err, (argv, err)
        assert rc in (0, 1, 2), (argv, rc)
        if rc == 2:
            assert len([ln for ln in err.splitlines() if ln.startswith("harness:")]) == 1
