"""Runs on disk and the read model over them: store.py (a run folder: run.json,
cells.jsonl, writing, reading, integrity) and view.py (RunView: a run as pandas, filtered and
labelled, what every report and finding reads).  costs.py reads a past run's measured seconds
for shard cutting.  It may import plan and verdict."""
