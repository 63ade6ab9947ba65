"""What the tests share: hand-made run folders (runs.py), the repository's paths (paths.py),
the stub worker and its backend (stub_worker.py, stub_backend.py: the worker's file protocol
in the stdlib, for the host's process handling)."""
