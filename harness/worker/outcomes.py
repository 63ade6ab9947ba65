"""What a worker says of one request (the `status` of its `<id>.json`): declared once, read by
the worker (as tfh_worker.outcomes) and by the host (as harness.worker.outcomes).  Stdlib only.

A load's `ok` is not yet a verdict: the host compares what was loaded and decides `pass` or
`mismatch`.  `error` is the worker failing outside the save or load call itself (a bug of ours,
an unreadable request); the host records it as that cell's `load-error`/`save-error`.
`crash` and `timeout` are never written by a worker: the host gives them to the cell a dead or
hung worker was on."""

OK = "ok"
ERROR = "error"
UNSUPPORTED = "unsupported"
SAVE_ERROR = "save-error"
LOAD_ERROR = "load-error"
CRASH = "crash"
TIMEOUT = "timeout"

SAVE_OUTCOMES = (OK, UNSUPPORTED, SAVE_ERROR, ERROR)
LOAD_OUTCOMES = (OK, UNSUPPORTED, LOAD_ERROR, ERROR)
HOST_OUTCOMES = (CRASH, TIMEOUT)
