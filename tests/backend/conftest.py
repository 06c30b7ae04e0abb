"""Backend fixtures live in tests/conftest.py; re-exported here for modules that import them from this path."""

from tests.conftest import db_path, load_fixture_catalog, service, store  # noqa: F401
