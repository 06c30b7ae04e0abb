"""One SQLite layer for every Aisle database: opening a file with its pragmas, transactions, versioned migrations.

Imports no other project package; the schemas themselves live with their owners (backend/migrations.py,
edge/cache_schema.py, edge/outbox.py, edge/staff_actions.py).
"""

from storage.connect import Durability, connect, transaction
from storage.migrations import Migration, SchemaTooNew, migrate, open_migrated, statements

__all__ = ["Durability", "Migration", "SchemaTooNew", "connect", "migrate", "open_migrated", "statements",
           "transaction"]
