"""The external fixtures (../shared/external-fixtures: SavedModels and a TFLite file written by TF
1.14 and 2.14) the inspect tests read, fast and with TF."""

from __future__ import annotations

import pytest

from .paths import SHARED

FIXTURES = SHARED / "external-fixtures"
TF1_SM = FIXTURES / "saved_model_half_plus_two_cpu"
TF2_SM = FIXTURES / "saved_model_half_plus_two_tf2_cpu"
TFLITE = FIXTURES / "saved_model_half_plus_two_tflite"


needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(),
                                    reason=f"external fixtures not present at {FIXTURES}")
