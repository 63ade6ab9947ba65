"""A run as it happens: environments made, workers started, cells sent home.

runner.py (Run: plan -> environments -> save and load phases -> rows; the run folder),
context.py (what the phases may read and where they send outcomes), save_phase.py,
load_phase.py, slots.py (how many workers at once), batch.py (one worker batch: the process,
its files, crash/hang handling), progress.py (what the terminal shows while it runs).  It may
import plan, envs, cache, verdict and results, never findings, reports or commands."""
