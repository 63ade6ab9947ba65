"""The worker: runs inside a TF environment, never on the host.

It is started as ``python -I harness/worker/main.py BATCH.json`` with the environment's own
interpreter and imports only the stdlib, numpy, TensorFlow/Keras and optional converters; never
the host package (pandas etc. are not installed there).  Results travel through files.
"""
