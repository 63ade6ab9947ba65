"""A hand-made run folder for the report, check, diff and advise tests (no TF needed), shaped
like what harness.run.runner writes: run.json with environments and cells.jsonl with every column.
The other test modules import `make_run` from here."""

from __future__ import annotations

from support.runs import make_run, sample_rows

from harness.results.store import COLUMNS, load_frame


def test_the_sample_is_a_run_folder(tmp_path):
    run = make_run(tmp_path)
    df = load_frame(run)
    assert len(df) == len(sample_rows()) == 4 * 2 * 6
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS
    assert set(df["status"]) == {"pass", "load-error", "unsupported", "mismatch"}
