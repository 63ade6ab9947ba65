"""Regression fixtures: artifacts kept exactly as written (`fixtures/<name>/`), re-checked
under every TF version by ordinary runs whose save side is the fixture
(harness.run.runner.Presaved).

model.py   fixture.toml: read, write, integrity (sha256 of every file)
synth.py   input specs read on the host, inputs synthesized with a fixed seed, tf.Example
stage.py   a fixture as the worker loads it (artifact + manifest, reference), and its cells
make.py    `fixtures add` (someone's artifact) and `fixtures freeze` (the zoo's)
"""
