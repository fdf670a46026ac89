"""The parts of the SQLite history (:class:`kpitui.store.Store` composes them; import it from there).

``schema`` (layout, migrations, opening rules) -> ``base`` (connection, transactions, errors) ->
``writes``, ``snapshot`` -> ``reads``, ``compaction``, ``upkeep``. What the PostgreSQL store shares
with them is in :mod:`kpitui.store_common`.
"""
