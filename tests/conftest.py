"""Shared fixtures: real registries on 127.0.0.1, and the --skip-slow switch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from moby_assemble.testing import LocalRegistry

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"

TEST_USER = "alice"
TEST_PASSWORD = "wonder-land-42"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--skip-slow",
        action="store_true",
        default=False,
        help="skip tests marked slow (QEMU boots, large images); CI runs them",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--skip-slow"):
        return
    skip = pytest.mark.skip(reason="--skip-slow given")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """../shared/fixtures (schemas and the LinuxKit YAML corpus)."""
    if not FIXTURES.is_dir():
        pytest.fail(f"shared fixtures not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A plain-HTTP distribution registry on 127.0.0.1 (anonymous pull and push)."""
    with LocalRegistry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A distribution registry with TLS (throw-away CA, see ``.tls.ca_cert``) and htpasswd
    Basic auth for TEST_USER / TEST_PASSWORD."""
    with LocalRegistry(
        tmp_path_factory.mktemp("tls-registry"), tls=True, users={TEST_USER: TEST_PASSWORD}
    ) as reg:
        yield reg
