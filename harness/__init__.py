"""tf-compat-harness: does a TensorFlow model saved under one TF version load under another?"""

from __future__ import annotations

__version__ = "0.1.0"
