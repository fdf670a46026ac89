"""The PostgreSQL history store; it lives in the package :mod:`kpitui.postgres` (kept: the names callers import)."""

from __future__ import annotations

from .postgres import _MIGRATIONS, SCHEMA, SCHEMA_VERSION, PostgresStore, display_url, missing_extra

__all__ = ["SCHEMA", "SCHEMA_VERSION", "_MIGRATIONS", "PostgresStore", "display_url", "missing_extra"]
