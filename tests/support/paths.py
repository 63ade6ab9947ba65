"""Where things are, for every test whatever its folder."""

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
SHARED = REPO.parent / "shared"  # ../shared beside the project: DESIGN.md, external fixtures
