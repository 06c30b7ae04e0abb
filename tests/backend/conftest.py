"""Backend fixtures: most live in tests/conftest.py (re-exported here for modules that import them from this path)."""

import pytest

from tests.conftest import Clock, db, db_path, load_fixture_catalog, service  # noqa: F401


@pytest.fixture
def clock() -> Clock:
    """A service's time, moved by the test instead of sleeping."""
    return Clock()
