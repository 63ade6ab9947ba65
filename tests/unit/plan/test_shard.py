"""--shard K/N slices and `harness merge`: unit checks of the slicing, then two real shards of a
small matrix run and merged into one run equal to the whole plan."""

from __future__ import annotations

import json
import random

import pytest
from support.paths import TESTS

from harness.cli import main as cli_main
from harness.plan.cells import PlanError, parse_shard
from harness.plan.matrix import Matrix
from harness.plan.shards import shard_cells

NIGHTLY = Matrix(save=[f"2.{i}" for i in range(12, 22)], load=[f"2.{i}" for i in range(12, 22)])


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8])
def test_shards_partition_the_plan(n):
    cells = NIGHTLY.cells()
    shards = [shard_cells(cells, k, n) for k in range(1, n + 1)]
    assert sum(len(s) for s in shards) == len(cells)
    assert set().union(*map(set, shards)) == set(cells)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    for s in shards:  # each slice keeps the plan's order
        chosen = set(s)
        assert s == [c for c in cells if c in chosen]


def test_shards_do_not_depend_on_plan_order():
    cells = NIGHTLY.cells()
    shuffled = list(cells)
    random.Random(7).shuffle(shuffled)
    for k in (1, 3):
        assert set(shard_cells(cells, k, 4)) == set(shard_cells(shuffled, k, 4))


def test_a_shard_keeps_load_environments_together():
    cells = NIGHTLY.cells()
    per_shard = [{c.load_tf for c in shard_cells(cells, k, 5)} for k in range(1, 6)]
    assert all(len(s) <= 3 for s in per_shard)  # 10 load versions over 5 shards


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "1", "1/2/3", "-1/2"])
def test_bad_shard(text):
    with pytest.raises(PlanError, match="bad --shard"):
        parse_shard(text)


@pytest.mark.parametrize(("env", "expected"), [
    ({"HARNESS_SHARD_INDEX": "3", "HARNESS_SHARD_TOTAL": "8"}, (3, 8)),  # the workflow's, 1-based
    ({"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "4"}, (1, 4)),  # GitLab: 1-based
    ({"CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "4"}, (1, 4)),  # CircleCI: 0-based
    ({"BUILDKITE_PARALLEL_JOB": "3", "BUILDKITE_PARALLEL_JOB_COUNT": "4"}, (4, 4)),
    ({"JOB_COMPLETION_INDEX": "7", "HARNESS_SHARD_TOTAL": "8"}, (8, 8)),  # Kubernetes
])
def test_shard_auto_reads_each_ci_index(env, expected):
    from harness.plan.shards import auto_shard

    assert auto_shard(env)[0] == expected


@pytest.mark.parametrize(("env", "message"), [
    ({}, "no CI shard index in the environment"),
    ({"JOB_COMPLETION_INDEX": "2"}, "HARNESS_SHARD_TOTAL is not"),
    ({"CI_NODE_INDEX": "0", "CI_NODE_TOTAL": "4"}, "are no index of a shard"),  # GitLab is 1-based
    ({"CIRCLE_NODE_INDEX": "4", "CIRCLE_NODE_TOTAL": "4"}, "are no index of a shard"),
    ({"BUILDKITE_PARALLEL_JOB": "x", "BUILDKITE_PARALLEL_JOB_COUNT": "4"}, "no index"),
])
def test_shard_auto_without_a_usable_index_is_one_clear_error(env, message):
    from harness.errors import UserError
    from harness.plan.shards import auto_shard

    with pytest.raises(UserError, match=message):
        auto_shard(env)


def test_shards_cut_by_cost_are_balanced_where_counts_are_not():
    from harness.plan.shards import Costs, bounds, slice_cells

    cells = NIGHTLY.cells()
    # Keras-3-side loads five times dearer, one format dearer still: counts would not balance
    seconds = {c.key(): (5.0 if c.load_tf >= "2.16" else 1.0) * (4 if c.format == "h5" else 1)
               for c in cells}
    costs = Costs(seconds, "earlier")
    for n in (2, 8):
        spans = bounds(cells, n, costs)
        parts = [slice_cells(cells, s) for s in spans]
        assert sum(map(len, parts)) == len(cells) and set().union(*map(set, parts)) == set(cells)
        loads = [sum(costs.of(sorted(p, key=lambda c: (c.load_tf, c.load_device)))) for p in parts]
        by_count = [sum(seconds[c.key()] for c in shard_cells(cells, k, n))
                    for k in range(1, n + 1)]
        mean = sum(loads) / n
        assert max(loads) / mean < 1.02 < max(by_count) / (sum(by_count) / n)


def test_plan_prints_the_shards_as_a_ci_job_matrix(tmp_path, capsys):
    assert cli_main(["plan", "--matrix", "matrix/smoke.toml", "--shards", "3", "--json",
                     "--results-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["shard"] for r in out["include"]] == ["1/3", "2/3", "3/3"]
    total = len(Matrix.load("matrix/smoke.toml").cells())
    assert sum(r["cells"] for r in out["include"]) == total
    assert cli_main(["plan", "--matrix", "matrix/smoke.toml", "--shards", "0"]) == 2
    assert "--shards 0" in capsys.readouterr().err


def test_costs_come_only_from_cells_a_run_really_loaded(tmp_path):
    """A cell reused from the load cache records what reusing it cost (a fraction of a load):
    no cost; a run that reused everything is no cost source at all."""
    import sys

    sys.path.insert(0, str(TESTS))
    from support.runs import make_run, sample_rows

    from harness.errors import UserError
    from harness.results.costs import read_costs

    rows = sample_rows()
    for i, r in enumerate(rows):
        r["seconds"] = 2.0
        if i % 2:
            r |= {"reused_from": "earlier", "seconds": 0.01}
    costs = read_costs(make_run(tmp_path / "half", rows=rows))
    assert set(costs.seconds.values()) == {2.0} and len(costs.seconds) == (len(rows) + 1) // 2
    warm = [r | {"reused_from": "earlier"} for r in rows]
    with pytest.raises(UserError, match="every one was reused"):
        read_costs(make_run(tmp_path / "warm", rows=warm))
    from harness.results.costs import given_costs

    assert given_costs(tmp_path / "warm" / "sample-run") is None  # --shard-costs: by count
