import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_collection_modifyitems(config, items):
    # Tests needing root are not skipped quietly: CI runs as root, and a run without
    # root should fail loudly rather than pass with holes.
    if os.geteuid() != 0:
        raise pytest.UsageError("distill's test suite runs as root (overlayfs, runc, device nodes)")
