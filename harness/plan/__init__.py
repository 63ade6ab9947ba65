"""The plan: what cells a run holds, before anything runs.

specs.py (an environment spec: `2.16+tf_keras`), globs.py (name patterns), matrix.py (a matrix
TOML, its includes and flags), cells.py (a cell, the plan of a matrix, keys and order),
shards.py (cutting a plan into K/N slices), requests.py (what a worker is asked),
presaved.py (cells whose artifacts exist already: fixtures, `try`).  Pure data, no processes:
it may import the base modules (harness/*.py) and the worker's pure outcome vocabulary only."""
