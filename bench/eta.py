"""How far the progress display's ETA is from the truth, on a real cold run:

    python bench/eta.py [--save 2.12] [--load 2.16] [-j 2] [--every 0.5] [--json OUT]

Runs `harness run --save X --load Y` (the quick start, with its X -> X baseline) with empty
save and load caches of its own (the environments of the real cache, built before the clock
starts), drives the plain Progress the CLI shows on a pipe, and asks it for its ETA every
`--every` seconds, as the live display's redraw does.  When the run is over, each sample's
truth is known (end - then), and it prints ETA / truth at 10, 25, 50 and 75% of the run,
counted two ways: by wall time elapsed and by cells done (the display's own %), plus what the
display said the saves were at while they ran.  A ratio of 1.00 is a perfect ETA; above it the
ETA runs high.  Figures only, never a pass/fail: the host's other jobs share its cores, so say
what else ran beside it when quoting them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from run_bench import _cache_dir  # noqa: E402  (bench/run_bench.py: envs of the real cache)

from harness.plan.matrix import from_flags  # noqa: E402
from harness.run.progress import Progress, clock  # noqa: E402
from harness.run.runner import Run, RunOptions  # noqa: E402

FRACTIONS = (0.10, 0.25, 0.50, 0.75)


def sample(progress: Progress) -> dict:
    """What the display would show now (the fields exist before and after issue 20)."""
    with progress.lock:
        return {"t": time.monotonic(), "eta": progress.eta(), "cells": progress.done,
                "total": progress.total, "phase": progress.phase_name,
                "saves": progress.saves_done,
                "saves_total": getattr(progress, "saves_total", None)}


def timed(save: str, load: str, jobs: int, tmp: Path, every: float) -> tuple[list, float, str]:
    matrix = from_flags([save], [load], baseline=True)
    out = io.StringIO()
    progress = Progress(out)
    run = Run(RunOptions(matrix=matrix, results_dir=tmp / "results", run_id="eta", jobs=jobs,
                         save_cache_dir=tmp / "saves", cache_dir=_cache_dir(tmp)), progress)
    run.prepare_envs()  # environments are built (or found) before the clock starts
    samples: list[dict] = []
    stop = threading.Event()

    def poll():
        while not stop.wait(every):
            samples.append(sample(progress))

    t0 = time.monotonic()
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        run.execute()
    finally:
        stop.set()
        poller.join()
        progress.close()
    end = time.monotonic()
    for s in samples:
        s["t"] -= t0
        s["truth"] = end - t0 - s["t"]
    return samples, end - t0, out.getvalue()


def at(samples: list[dict], fraction: float, by: str, wall: float) -> dict | None:
    """The first sample at `fraction` of the run: of its wall time, or of its cells done."""
    for s in samples:
        done = s["t"] / wall if by == "time" else (s["cells"] / s["total"] if s["total"] else 0)
        if done >= fraction:
            return s
    return None


def ratio(s: dict | None) -> str:
    if s is None:
        return "   -  "
    if s["eta"] is None:
        return "  none"
    return f"{s['eta'] / max(s['truth'], 1e-6):6.2f}"


def report(samples: list[dict], wall: float) -> dict:
    out: dict = {"wall_seconds": round(wall, 1), "samples": len(samples)}
    print(f"cold run: {wall:.1f} s wall, {samples[-1]['total'] if samples else '?'} cells, "
          f"{len(samples)} samples; ETA / truth (1.00 = exact):")
    for by in ("time", "cells"):
        row = []
        for f in FRACTIONS:
            s = at(samples, f, by, wall)
            row.append(s)
            out[f"{by}_{int(f * 100)}"] = (None if s is None else
                                           {"eta": s["eta"], "truth": round(s["truth"], 1),
                                            "t": round(s["t"], 1)})
        cells = "  ".join(f"{int(f * 100):>3}%: {ratio(s)} ({_pair(s)})"
                          for f, s in zip(FRACTIONS, row, strict=True))
        print(f"  by {'wall time' if by == 'time' else 'cells done'}:  {cells}")
    # from 25% of the wall time until 5% is left (then a second is a ratio of 2)
    late = [s for s in samples if s["t"] >= 0.25 * wall and s["truth"] >= 0.05 * wall]
    if late:
        def off(s: dict) -> float:
            return max(s["eta"] / s["truth"], s["truth"] / s["eta"]) if s["eta"] else 1e9
        worst = max(late, key=off)
        within = sum(off(s) <= 1.5 for s in late) / len(late)
        out["worst_from_25"] = round(worst["eta"] / worst["truth"], 2) if worst["eta"] else None
        out["within_1_5x_from_25"] = round(within, 2)
        print(f"  from 25% of the wall time until 5% is left: {within:.0%} of the samples "
              f"within 1.5x; worst {_ratio_text(worst)} at {worst['t']:.0f} s "
              f"({_pair(worst)})")
    saving = [s for s in samples if s["cells"] == 0]
    if saving:
        s = saving[len(saving) // 2]
        shown = (f"{s['saves']}/{s['saves_total']} saves" if s["saves_total"] is not None
                 else f"phase {s['phase']}, no save count")
        print(f"  half way through the first {saving[-1]['t']:.0f} s (no cell done yet): "
              f"{shown}, ETA {clock(s['eta']) if s['eta'] else '-'} with "
              f"{clock(s['truth'])} left")
    return out


def _ratio_text(s: dict) -> str:
    return f"{s['eta'] / s['truth']:.2f}" if s["eta"] else "no ETA"


def _pair(s: dict | None) -> str:
    if s is None or s["eta"] is None:
        return "-"
    return f"{clock(s['eta'])} vs {clock(s['truth'])}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--save", default="2.12")
    ap.add_argument("--load", default="2.16")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--every", type=float, default=0.5, help="seconds between samples")
    ap.add_argument("--json", type=Path, help="also write the samples and figures here")
    ap.add_argument("--plain", type=Path, help="also write the plain lines it printed here")
    args = ap.parse_args(argv)
    print(f"harness run --save {args.save} --load {args.load} -j {args.jobs}, cold; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory(prefix="harness-eta-") as tmp:
        samples, wall, plain = timed(args.save, args.load, args.jobs, Path(tmp), args.every)
    figures = report(samples, wall)
    print(f"  load average {os.getloadavg()[0]:.1f} at the end")
    if args.plain:
        args.plain.write_text(plain)
    if args.json:
        args.json.write_text(json.dumps(figures | {"all": samples}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
