"""metanas.storage: durable studies and trials (SQLite by default)."""

from metanas.storage.base import Duplicate, Store, StudyInfo
from metanas.storage.sqlite import SCHEMA_VERSION, SQLiteStore, check_study_name, open_store

__all__ = [
    "SCHEMA_VERSION",
    "Duplicate",
    "SQLiteStore",
    "Store",
    "StudyInfo",
    "check_study_name",
    "open_store",
]
