"""The CI configurations that spread a night over machines, run as written: the GitHub workflow
(.github/workflows/nightly.yml), and the GitLab file and Kubernetes manifest in docs/scale.md.
Each `harness plan/run/merge` command they contain runs through bash with the CI's own index
variables set, on a tiny matrix, with the stub worker (tests/stub_worker.py) behind `harness`
(host code only: which slice each job runs, and that the slices tile the plan); the merged run
must equal an unsharded run of the same matrix cell for cell."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from support.paths import REPO

from harness.results.store import read_run

TINY = """[matrix]
name = "tiny"
save = ["2.12"]
load = ["2.12", "2.16"]
models = ["mlp"]
formats = ["h5", "savedmodel"]
"""


@pytest.fixture
def shell(tmp_path):
    """run(script, **env): bash in tmp_path/work with a `harness` that is the stub-backed CLI."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = REPO / "tests" / "support" / "stub_backend.py"
    (bin_dir / "harness").write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = run ]; then shift; exec {sys.executable} {stub} '
        f'run --backend stub --cache-dir {tmp_path}/cache "$@"; fi\n'
        f'exec {sys.executable} {stub} "$@"\n')
    (bin_dir / "harness").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "tiny.toml").write_text(TINY)

    def run(script: str, **env) -> str:
        full = os.environ | {"PATH": f"{bin_dir}:{os.environ['PATH']}",
                             "MATRIX": str(tmp_path / "tiny.toml"), "CI": "true"}
        for k in ("HARNESS_SHARD_INDEX", "HARNESS_SHARD_TOTAL", "CI_NODE_INDEX",
                  "CI_NODE_TOTAL", "JOB_COMPLETION_INDEX"):
            full.pop(k, None)
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work,
                             env=full | {k: str(v) for k, v in env.items()},
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, (script, out.stdout, out.stderr)
        return out.stdout

    run.work = work
    run.tmp = tmp_path
    return run


def at_once(jobs) -> None:
    """The shard jobs of one night run side by side, as a CI runs them (and twice as fast here)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        for fut in [pool.submit(job) for job in jobs]:
            fut.result()


def harness_lines(script: str, commands=("plan", "run", "merge")) -> str:
    """The lines (and `&&` parts) of a script that call `harness plan/run/merge`, plus the
    shell around them (mkdir, cp, if): what the job does with the harness."""
    keep = []
    for line in script.replace("\\\n", " ").splitlines():
        parts = [p.strip() for p in line.split("&&")]
        parts = [p for p in parts if not p.startswith("harness ")
                 or p.split()[1] in commands]
        if parts:
            keep.append(" && ".join(parts))
    return "\n".join(keep)


def whole_run(shell) -> dict:
    shell(f'harness run --matrix "$MATRIX" --results-dir {shell.tmp}/whole --run-id all -j 2 '
          "--quiet")
    return cells(shell.tmp / "whole" / "all")


def cells(run: Path) -> dict:
    return {(r["save_tf"], r["load_tf"], r["model"], r["format"], r["loader"]): r["status"]
            for r in read_run(run).rows}


def github(text: str, **values) -> str:
    """`${{ a.b }}` expressions replaced by the values the runner would put there."""
    return re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: str(values[m.group(1)]), text)


def test_the_github_workflow_shards_tile_the_plan_two_nights_running(shell):
    wf = yaml.safe_load((REPO / ".github/workflows/nightly.yml").read_text())
    jobs = wf["jobs"]
    step = {name: [s["run"] for s in job["steps"] if "harness " in s.get("run", "")]
            for name, job in jobs.items()}
    assert jobs["shard"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.shards) }}"
    want = None  # the unsharded run, made after the first night: its shards load afresh
    for night in (1, 2):
        out = shell.work / "gh_output"
        out.unlink(missing_ok=True)
        shell(harness_lines(step["plan"][0]), GITHUB_OUTPUT=out, SHARDS=3)
        plan = json.loads(out.read_text().split("shards=", 1)[1])
        used = (shell.work / ".harness-costs/USED").read_text().strip()
        assert used == ("none" if night == 1 else ".harness-costs/last-night")
        def job(row):
            env = {k: github(v, **{"matrix.index": row["index"], "matrix.total": row["total"]})
                   for k, v in jobs["shard"]["env"].items()}
            shell(harness_lines(github(step["shard"][0], **{"matrix.shard": row["shard"]})),
                  **env)
            dest = shell.work / "shards" / f"shard-{row['index']}"  # upload + download
            dest.mkdir(parents=True)
            for f in ("run.json", "cells.jsonl"):
                shutil.copy(shell.work / "results" / f"shard-{row['index']}" / f, dest)

        at_once([lambda row=row: job(row) for row in plan["include"]])
        for script in step["merge"]:
            shell(harness_lines(github(script, **{"github.run_id": night})))
        keep = next(s["run"] for s in jobs["merge"]["steps"] if "last-night" in s.get("run", ""))
        shell(github(keep, **{"github.run_id": night}))
        merged = shell.work / "results" / f"nightly-{night}"
        want = want or whole_run(shell)
        assert cells(merged) == want
        info = json.loads((shell.work / "results/shard-1/run.json").read_text())["matrix"]
        assert info["shard_costs"] == (None if night == 1 else "nightly-1")
        shutil.rmtree(shell.work / "results")
        shutil.rmtree(shell.work / "shards")


def scale_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", (REPO / "docs/scale.md").read_text(), re.S)


def test_the_gitlab_file_in_the_docs_shards_tile_the_plan(shell):
    ci = yaml.safe_load(scale_blocks()[0])
    want = whole_run(shell)
    for script in ci["saves"]["script"]:
        shell(harness_lines(script))
    n = ci["shard"]["parallel"]
    def job(index):
        for script in ci["shard"]["script"]:
            shell(harness_lines(script), CI_NODE_INDEX=index, CI_NODE_TOTAL=n)

    at_once([lambda i=i: job(i) for i in range(1, n + 1)])  # CI_NODE_INDEX is 1-based
    for script in ci["merge"]["script"]:
        shell(harness_lines(script))
    assert cells(shell.work / "results" / "nightly") == want


def test_the_kubernetes_manifest_in_the_docs_shards_tile_the_plan(shell):
    saves, indexed, merge = yaml.safe_load_all(scale_blocks()[1])
    assert indexed["spec"]["completionMode"] == "Indexed"
    shared = shell.tmp / "shared"

    def args(job) -> tuple[str, dict]:
        c = job["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in c.get("env", []) if e["name"] != "MATRIX"}
        return harness_lines(c["args"][0].replace("/shared", str(shared))), env

    want = whole_run(shell)
    script, env = args(saves)
    shell(script, **env)
    script, env = args(indexed)
    n = indexed["spec"]["completions"]
    assert env["HARNESS_SHARD_TOTAL"] == str(n)
    at_once([lambda i=i: shell(script, JOB_COMPLETION_INDEX=i, **env)
             for i in range(n)])  # JOB_COMPLETION_INDEX is 0-based
    script, env = args(merge)
    shell(script, **env)
    assert cells(shared / "results" / "nightly") == want
