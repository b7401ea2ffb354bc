import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_collection_modifyitems(config, items):
    # Tests needing root are not skipped quietly: CI runs as root, and a run without
    # root fails loudly rather than passing with holes.
    if os.geteuid() != 0:
        raise pytest.UsageError("distill's test suite runs as root (overlayfs, runc, device nodes)")


@pytest.fixture
def store(tmp_path):
    from distill.image.store import Store

    return Store(tmp_path / "store")


@pytest.fixture
def distill_root(tmp_path, monkeypatch):
    """A store directory for CLI runs, also set as DISTILL_ROOT."""
    root = tmp_path / "store"
    monkeypatch.setenv("DISTILL_ROOT", str(root))
    return root


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    from bed.registry import RegistryProcess

    reg = RegistryProcess(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory):
    """A registry that demands Bearer tokens from a token server that wants a password."""
    from bed.registry import RegistryProcess
    from bed.tokenserver import TokenServer

    work = tmp_path_factory.mktemp("token-registry")
    tokens = TokenServer(work / "tokens", {"alice": "s3cret"})
    reg = RegistryProcess(work / "registry", token=tokens.registry_config())
    reg.tokens = tokens
    yield reg
    reg.stop()
    tokens.stop()


@pytest.fixture(scope="session")
def busybox_store(tmp_path_factory):
    """A store holding `busybox:test`, made from busybox-static."""
    from bed.images import busybox_image
    from distill.image.store import Store

    work = tmp_path_factory.mktemp("busybox")
    s = Store(work / "store")
    busybox_image(s, "localhost/busybox:test", work)
    return s


@pytest.fixture(scope="session")
def python_store(tmp_path_factory):
    from bed.images import python_base
    from distill.image.store import Store

    s = Store(tmp_path_factory.mktemp("python") / "store")
    python_base(s)
    return s


@pytest.fixture(scope="session")
def runtime_store(tmp_path_factory):
    """A store with a Node.js base and a Java runtime base (Debian's nodejs and
    openjdk-17-jre-headless)."""
    from bed.images import java_base, node_base
    from distill.image.store import Store

    s = Store(tmp_path_factory.mktemp("runtimes") / "store")
    node_base(s)
    java_base(s)
    return s
