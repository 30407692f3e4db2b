"""The PostgreSQL store (DATABASE_URL): see store.py for its parts."""

from services.storage.postgres.store import PostgresStorage

__all__ = ["PostgresStorage"]
