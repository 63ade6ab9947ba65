"""What a run says to a person upgrading: advise.py (per upgrade, per format and
loader: break, fixed, already fails, and the fix), artifact_changes.py (what changed in the
artifacts between save versions), expectations.py (matrix/expectations.toml against a run, for
`harness check`).  They read results.view and may import migrate (its hints), never reports or
commands."""
