"""What keeps the ``sql`` source read-only, beyond opening SQLite with ``mode=ro``.

SQLite: an authorizer that allows reading and nothing else. A read-only
connection alone let ``ATTACH DATABASE 'file:shop.db?mode=rw' AS rw`` in one
metric and ``DROP TABLE rw.orders`` in the next drop a table, and
``VACUUM INTO`` write a copy anywhere. Allowed: ``SELECT`` (with ``WITH``,
recursive CTEs and functions), reading columns, and the informational
pragmas in :data:`READ_PRAGMAS` without an argument but a table name.
Everything else is denied: ``ATTACH``/``DETACH`` (which ``VACUUM INTO``
needs), any write, schema change, transaction or other pragma, and the
functions in :data:`DENIED_FUNCTIONS`. Each query also gets a connection of
its own, so nothing one query sets is seen by the next.

PostgreSQL: a query must be one ``SELECT`` (or ``WITH … SELECT``,
``VALUES``, ``TABLE``); it runs as a cursor (``DECLARE … CURSOR FOR``, which
the server accepts for exactly those) inside its own read-only transaction,
and the session is reset (``DISCARD ALL``) between queries. A read-only
transaction alone let ``COMMIT; CREATE TABLE …`` (several statements in one
query) and ``COPY … TO PROGRAM`` (a shell command on the database server,
for a superuser) through.
"""

from __future__ import annotations

import re
import sqlite3

#: pragmas that only report (asked without a value, or with a table or index name)
READ_PRAGMAS = frozenset(
    {
        "application_id",
        "collation_list",
        "compile_options",
        "database_list",
        "encoding",
        "foreign_key_list",
        "freelist_count",
        "function_list",
        "index_info",
        "index_list",
        "index_xinfo",
        "module_list",
        "page_count",
        "page_size",
        "pragma_list",
        "schema_version",
        "table_info",
        "table_list",
        "table_xinfo",
        "user_version",
    }
)
#: pragmas whose argument is a table or index name, not a value to set
_NAME_PRAGMAS = frozenset(
    {"foreign_key_list", "index_info", "index_list", "index_xinfo", "table_info", "table_list", "table_xinfo"}
)
DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}


def sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    """``sqlite3.Connection.set_authorizer`` callback: reads only."""
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in DENIED_FUNCTIONS else sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in READ_PRAGMAS and (arg2 is None or name in _NAME_PRAGMAS):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.S)
POSTGRES_STATEMENTS = ("SELECT", "WITH", "VALUES", "TABLE")


def first_keyword(query: str) -> str:
    """The query's first word, after comments, blanks and opening parentheses, in capitals."""
    rest = query[_LEADING.match(query).end() :]  # type: ignore[union-attr]
    match = re.match(r"[A-Za-z_]+", rest)
    return match.group(0).upper() if match else ""


def postgres_refusal(query: str) -> str | None:
    """Why kpitui will not send ``query`` to PostgreSQL, or ``None``."""
    word = first_keyword(query)
    if word in POSTGRES_STATEMENTS:
        return None
    shown = f"a {word} statement" if word else "this query"
    return f"{shown} is not run: a query must be one SELECT (or WITH … SELECT, VALUES); kpitui only reads"
