"""How every statement names its table and its columns.

Tables are qualified with the keyspace: Cassandra 5 warns on every prepare that leans on a session keyspace.
A caller on a session without a keyspace passes None. Timestamps a reader takes as numbers are selected as
epoch milliseconds under their own name, so a typed row's field names are the select list's.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def table(keyspace: str | None, name: str) -> str:
    return f"{keyspace}.{name}" if keyspace else name


def epoch_ms(column: str) -> str:
    """The select expression that reads timestamp ``column`` as epoch milliseconds (a bigint), under its name."""
    return f"toUnixTimestamp({column}) AS {column}"


def select_list(fields: Sequence[str], timestamps_ms: Collection[str] = ()) -> str:
    """``fields`` in order (a typed row's ``_fields``), those in ``timestamps_ms`` as epoch milliseconds."""
    return ", ".join(epoch_ms(f) if f in timestamps_ms else f for f in fields)


def placeholders(count: int) -> str:
    return ", ".join("?" * count)
