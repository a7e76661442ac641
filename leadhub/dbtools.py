"""What differs between the databases, in one place.

Each function holds its PostgreSQL variant and, beside it, what SQLite (the
embedded default) does instead; callers never branch on the database themselves.
PostgreSQL-only SQL (COPY, planner estimates and switches, ``synchronous_commit``,
string aggregation) lives here and nowhere else.
"""
from __future__ import annotations

import json
import operator
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

from django.db import connection, connections, transaction
from django.db.models import sql
from django.utils import timezone
from psycopg.types.json import Jsonb


def postgresql(using=None) -> bool:
    """Whether the connection (the default one unless ``using`` names another) is PostgreSQL."""
    return (connection if using is None else connections[using]).vendor == "postgresql"


def takes_concurrent_writers() -> bool:
    """PostgreSQL: several connections write at once. SQLite: one writer at a time, so
    work split over connections only queues on the write lock."""
    return postgresql()


def commit_without_waiting_for_disk() -> None:
    """Inside a transaction: its commit returns before it reaches the disk.

    PostgreSQL: ``synchronous_commit`` off for this transaction only; a crash may lose
    the last such commits, each as a whole, so it suits work that records its own
    progress in the same transaction and is redone from there. SQLite: nothing (its
    commit waits as it is configured to).
    """
    if postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


@contextmanager
def planner(**enable: bool) -> Iterator[None]:
    """Inside the block, PostgreSQL's ``enable_<name>`` as given (e.g. ``planner(seqscan=False)``);
    restored after. Transaction-local: after an error the rollback restores them. SQLite: nothing.

    A few hot queries must take one kind of plan whatever the statistics say. The statistics
    of a table a bulk load has just filled are stale or missing (autoanalyze lags behind an
    import): lookups then read whole tables, and a claim sorted a destination's every pending
    delivery to take sixteen. Those queries leave the planner one good index, and this takes
    the bad alternative away (``seqscan=False``, ``sort=False``) for their block only.
    """
    if not postgresql():
        yield
        return
    names = [f"enable_{name}" for name in enable]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["current_setting(%s), set_config(%s, %s, true)"] * len(names)),
                       [p for name, on in zip(names, enable.values()) for p in (name, name, "on" if on else "off")])
        before = cursor.fetchone()[0::2]
        yield
        cursor.execute("SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)),
                       [p for name, value in zip(names, before) for p in (name, value)])


def claimable(queryset):
    """``queryset`` for a claim: PostgreSQL locks its rows and skips those another claimer holds
    (``FOR UPDATE SKIP LOCKED`` on its own table). SQLite: as it is (the IMMEDIATE transaction
    already serialises claimers)."""
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset


def estimated_count(queryset) -> int | None:
    """PostgreSQL: the planner's row estimate for ``queryset`` (``EXPLAIN``, no rows read).
    SQLite: None (callers count exactly; its tables here stay small)."""
    if not postgresql(queryset.db):
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def joined_ids(column: str) -> str:
    """An aggregate expression joining ``column``'s integer values with commas.
    PostgreSQL: in ascending order. SQLite's ``group_concat`` promises no order: readers sort."""
    return f"string_agg({column}::text, ',' ORDER BY {column})" if postgresql() else f"group_concat({column}, ',')"


def update_returning(queryset, values: dict, returning: str = "pk") -> list:
    """``queryset.update(**values)`` in one statement that also returns ``returning`` of each row
    it changed (``UPDATE … RETURNING``: PostgreSQL, and SQLite since 3.35)."""
    model, using = queryset.model, queryset.db
    query = queryset.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    statement, params = query.get_compiler(using).as_sql()
    column = model._meta.pk.column if returning == "pk" else model._meta.get_field(returning).column
    with connections[using].cursor() as cursor:
        cursor.execute(f"{statement} RETURNING {connections[using].ops.quote_name(column)}", params)
        return [row[0] for row in cursor.fetchall()]


def insert_new(model, fields: Sequence[str], rows: Sequence[Sequence], returning: str) -> list:
    """Insert ``rows`` (values of ``fields``, in order) into ``model``'s table, skipping those a
    unique constraint already holds, and return ``returning`` of the rows inserted
    (``INSERT … ON CONFLICT DO NOTHING RETURNING``: PostgreSQL, and SQLite since 3.35)."""
    meta, quote = model._meta, connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    names = ", ".join(quote(f.column) for f in columns)
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    size = max(1, 30_000 // len(columns))  # within either database's limit of bound parameters
    inserted = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            part = rows[start:start + size]
            params = [f.get_db_prep_save(value, connection) for row in part for f, value in zip(columns, row)]
            cursor.execute(f"INSERT INTO {quote(meta.db_table)} ({names}) VALUES {', '.join([one] * len(part))} "
                           f"ON CONFLICT DO NOTHING RETURNING {quote(meta.get_field(returning).column)}", params)
            inserted += [row[0] for row in cursor.fetchall()]
    return inserted


# --- COPY (PostgreSQL only) -------------------------------------------------------------
# Binary ``COPY … FROM STDIN`` (psycopg 3): the bulk-insert path of CSV imports (leads),
# delivery planning (deliveries) and delivery results (attempts). Binary rows skip the text
# formatting on our side and the text parsing on the server's. Each value goes in as psycopg
# adapts it for the column's type; a JSON value is wrapped in psycopg.types.json.Jsonb. Errors
# come out as Django's (IntegrityError for a unique violation).

_types: dict[tuple[str, str, tuple[str, ...]], list[int]] = {}


def column_types(cursor, table: str, columns: Sequence[str]) -> list[int]:
    """The type oids of ``columns`` (read once per process and table)."""
    key = (connection.settings_dict["NAME"], table, tuple(columns))
    if key not in _types:
        cursor.execute("SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass "
                       "AND attnum > 0 AND NOT attisdropped", [table])
        oids = dict(cursor.fetchall())
        _types[key] = [oids[c] for c in columns]
    return _types[key]


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """COPY ``rows`` (one value per column, in order) into ``table`` (PostgreSQL only)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor, connection.wrap_database_errors:
        types = column_types(cursor, table, columns)
        names = ", ".join(quote(c) for c in columns)
        with cursor.cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)


def create_objects(model, objs: list, *, copy_from: int) -> None:
    """``model.objects.bulk_create(objs)``; on PostgreSQL, from ``copy_from`` objects on, one binary
    COPY instead (a large import's batches), giving each object its pk as bulk_create would.

    COPY returns no ids, so the ids are taken from the table's sequence first (one query) and
    written explicitly. Every field is a plain value psycopg adapts itself (text, int, datetime)
    except JSON; auto_now(_add) fields get one timestamp, as bulk_create gives them. A row is one
    itemgetter call over the object's __dict__: per-cell getattr or get_db_prep_save would cost
    more than the COPY itself.
    """
    if len(objs) < copy_from or not postgresql():
        model.objects.bulk_create(objs)
        return
    meta = model._meta
    fields = [meta.pk] + [f for f in meta.concrete_fields if not f.primary_key]
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [meta.db_table, meta.pk.column, len(objs)])
        ids = [row[0] for row in cursor.fetchall()]
    now = timezone.now()
    stamped = {f.attname: now for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)}
    json_at = [i for i, f in enumerate(fields) if f.get_internal_type() == "JSONField"]
    row_of = operator.itemgetter(*[f.attname for f in fields])

    def rows():
        for pk, obj in zip(ids, objs):
            data = obj.__dict__
            data.update(stamped)
            data[meta.pk.attname] = pk
            row = list(row_of(data))
            for i in json_at:
                if row[i] is not None:
                    row[i] = Jsonb(row[i])
            yield row

    copy_rows(meta.db_table, [f.column for f in fields], rows())
    for obj in objs:  # saved, as bulk_create leaves them
        obj._state.adding = False
        obj._state.db = connection.alias
