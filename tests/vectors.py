"""BuildKit's conformance vectors, which come beside a checkout (../shared/conformance),
not inside it. A lone clone skips the tests that read them, with one reason; under CI
(CI=true) their absence fails the run."""

import os
from pathlib import Path

import pytest

BUILDKIT = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "buildkit"


def buildkit_vectors() -> Path:
    """The vectors' directory; skips (or, under CI, fails) the calling test module without it."""
    if not BUILDKIT.is_dir():
        reason = f"BuildKit's conformance vectors are not at {BUILDKIT} (they lie beside a checkout, not in it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason, allow_module_level=True)
    return BUILDKIT
