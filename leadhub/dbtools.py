"""What differs between the databases, in one place.

Each function holds its PostgreSQL variant and, beside it, what SQLite (the
embedded default) does instead; callers never branch on the database themselves.
PostgreSQL-only SQL (COPY, planner estimates and switches, ``synchronous_commit``,
string aggregation) lives here and nowhere else.
"""
from __future__ import annotations

import datetime as dt
import json
import operator
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Sequence

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, connections, transaction
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


def insert_new(model, values: dict[str, Sequence], returning: str, **constants) -> list:
    """Insert one row per position of ``values`` ({field: that column's values}) with ``constants``
    ({field: value}) in every row, skipping rows a unique constraint already holds; returns
    ``returning`` of the rows inserted (``INSERT … ON CONFLICT DO NOTHING RETURNING``).

    PostgreSQL: the varying columns travel as one JSON parameter (``jsonb_to_recordset``), so the
    statement's text is the same whatever the number of rows and psycopg has one string to send,
    not thousands of placeholders to split or array elements to dump. SQLite (3.35 and later):
    ``VALUES`` lists within its limit of bound parameters.
    """
    meta, quote = model._meta, connection.ops.quote_name
    varying = [meta.get_field(name) for name in values]
    fixed = [meta.get_field(name) for name in constants]
    names = ", ".join(quote(f.column) for f in [*varying, *fixed])
    head = f"INSERT INTO {quote(meta.db_table)} ({names}) "
    tail = f" ON CONFLICT DO NOTHING RETURNING {quote(meta.get_field(returning).column)}"
    fixed_params = [f.get_db_prep_save(value, connection) for f, value in zip(fixed, constants.values())]
    rows = list(zip(*values.values()))
    if not rows:
        return []
    with connection.cursor() as cursor:
        if postgresql():
            shape = ", ".join(f"{quote(f.column)} {f.cast_db_type(connection)}" for f in varying)
            picked = ", ".join([f"v.{quote(f.column)}" for f in varying] + ["%s"] * len(fixed))
            records = json.dumps([dict(zip((f.column for f in varying), row)) for row in rows], cls=DjangoJSONEncoder)
            cursor.execute(f"{head}SELECT {picked} FROM jsonb_to_recordset(%s::jsonb) AS v({shape}){tail}",
                           [*fixed_params, records])
            return [row[0] for row in cursor.fetchall()]
        one = "(" + ", ".join(["%s"] * (len(varying) + len(fixed))) + ")"
        size = max(1, 30_000 // (len(varying) + len(fixed)))
        inserted = []
        for start in range(0, len(rows), size):
            part = rows[start:start + size]
            params = [v for row in part for v in
                      [*(f.get_db_prep_save(value, connection) for f, value in zip(varying, row)), *fixed_params]]
            cursor.execute(f"{head}VALUES {', '.join([one] * len(part))}{tail}", params)
            inserted += [row[0] for row in cursor.fetchall()]
    return inserted


def update_columns(model, pks: Sequence, columns: dict[str, Sequence], **constants) -> None:
    """Write, for each primary key in ``pks``, its value in each of ``columns`` ({field: values, in
    the order of pks}), and ``constants`` on every row.

    PostgreSQL: one ``UPDATE … FROM unnest(arrays)``, whose text is the same whatever the number of
    rows, so it is parsed and planned once per connection (bulk_update builds a CASE per column and
    row, a new statement for every batch size). SQLite: ``bulk_update``.
    """
    if not pks:
        return
    if not postgresql():
        objs = [model(pk=pk, **{name: values[i] for name, values in columns.items()}, **constants)
                for i, pk in enumerate(pks)]
        model.objects.bulk_update(objs, [*columns, *constants], batch_size=500)
        return
    meta, quote = model._meta, connection.ops.quote_name
    fields = [meta.get_field(name) for name in columns]
    fixed = [meta.get_field(name) for name in constants]
    sets = [f"{quote(f.column)} = v.{quote(f.column)}" for f in fields] + [f"{quote(f.column)} = %s" for f in fixed]
    arrays = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in [meta.pk, *fields])
    names = ", ".join(quote(f.column) for f in [meta.pk, *fields])
    params = [f.get_db_prep_save(value, connection) for f, value in zip(fixed, constants.values())]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {quote(meta.db_table)} AS t SET {', '.join(sets)} FROM unnest({arrays}) AS v({names}) "
                       f"WHERE t.{quote(meta.pk.column)} = v.{quote(meta.pk.column)}",
                       [*params, list(pks), *[list(values) for values in columns.values()]])


def update_texts(model, fields: list[str], rows: list[dict]) -> None:
    """Write text columns of many rows (``{"id": pk, field: text, …}``). PostgreSQL: one statement
    per 5,000 rows reading them from one JSON parameter (bulk_update's CASE per row and field costs
    more Python than the texts take to make). SQLite: ``bulk_update``."""
    if not postgresql():
        model.objects.bulk_update([model(pk=row.pop("id"), **row) for row in rows], fields, batch_size=500)
        return
    table = connection.ops.quote_name(model._meta.db_table)
    columns = [model._meta.get_field(name).column for name in fields]
    sets = ", ".join(f"{c} = v.{c}" for c in columns)
    shape = ", ".join(["id bigint"] + [f"{c} text" for c in columns])
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 5000):
            cursor.execute(f"UPDATE {table} t SET {sets} FROM jsonb_to_recordset(%s::jsonb) AS v({shape}) "
                           "WHERE t.id = v.id", [json.dumps(rows[start:start + 5000])])


def take_time_slots(model, pk, field: str, seconds: float) -> float:
    """Move the row's ``field`` (a time) to ``seconds`` past the later of itself and now, in one
    step every process sees in turn; returns how long until the old value (0 if it was past).
    A rate limit across workers: the span taken is theirs.

    PostgreSQL: one autocommit statement on the database clock (the row lock lasts one UPDATE).
    SQLite: a read and a write in one transaction (IMMEDIATE takes the write lock at BEGIN).
    """
    meta, quote = model._meta, connection.ops.quote_name
    column = quote(meta.get_field(field).column)
    if postgresql():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} SET {column} = GREATEST(COALESCE({column}, clock_timestamp()), "
                f"clock_timestamp()) + make_interval(secs => %s) WHERE {quote(meta.pk.column)} = %s "
                f"RETURNING EXTRACT(EPOCH FROM ({column} - clock_timestamp())) - %s", [seconds, pk, seconds])
            return max(0.0, float(cursor.fetchone()[0]))
    with transaction.atomic():
        last = model.objects.values_list(field, flat=True).get(pk=pk)
        now = timezone.now()
        slot = max(now, last or now)
        model.objects.filter(pk=pk).update(**{field: slot + dt.timedelta(seconds=seconds)})
    return (slot - now).total_seconds()


def copy_or_create(model, count: int, columns: Sequence[str], rows: Callable[[], Iterable[Sequence]],
                   objects: Callable[[], list], *, copy_from: int, **bulk_create) -> None:
    """Insert ``count`` new rows: on PostgreSQL from ``copy_from`` rows on, one binary COPY of
    ``rows()`` (values of ``columns``, in order); otherwise ``bulk_create(objects(), **bulk_create)``.
    With ``ignore_conflicts``, a COPY that meets a row already there falls back to bulk_create,
    which skips it."""
    if postgresql() and count >= copy_from:
        if not bulk_create.get("ignore_conflicts"):
            copy_rows(model._meta.db_table, columns, rows())
            return
        try:
            with transaction.atomic():  # a savepoint: a conflict leaves the caller's transaction usable
                copy_rows(model._meta.db_table, columns, rows())
            return
        except IntegrityError:
            pass
    model.objects.bulk_create(objects(), **bulk_create)


def withdraws_setwise() -> bool:
    """Whether :func:`withdraw_pushes_setwise` is there (PostgreSQL); elsewhere the vendors app
    plans withdrawals row by row with the ORM."""
    return postgresql()


def withdraw_pushes_setwise(lead_ids: Sequence[int], plan: list, code: str, now, *, push: str, pending: str,
                            skipped: str, accepted: str) -> list[tuple]:
    """PostgreSQL: a withdrawal of ``lead_ids`` planned in one statement on ``vendors_delivery``.
    Their ``pending`` pushes are ``skipped`` (with ``code``); for every ``accepted`` one, a row per
    ``plan`` entry of its destination is inserted (``plan``: flat [destination id, operation,
    status, code, message, finished_at] * n; a row planned already is left alone). Returns
    (inserted?, destination id, operation, status, code, count) per group, what the dashboard counts.

    The chunk's pushes are read once through the (lead, destination, operation) index
    (MATERIALIZED, so the planner cannot pick the pending-only index instead: it grows with every
    withdrawal planned, and a large cancel would rescan it per chunk). The ids go as one text
    parameter (psycopg dumps a list element by element).
    """
    values = ", ".join(["(%s::bigint, %s, %s, %s, %s, %s::timestamptz)"] * (len(plan) // 6)) or \
        "(NULL::bigint, '', '', '', '', NULL::timestamptz)"
    with planner(seqscan=False), connection.cursor() as cursor:
        cursor.execute(
            "WITH pushes AS MATERIALIZED (SELECT id, lead_id, destination_id, status, remote_ref "
            "  FROM vendors_delivery WHERE lead_id = ANY(string_to_array(%s, ',')::bigint[]) "
            "  AND operation = %s), "
            # d.status again: a row a claimer took meanwhile is left to it (re-checked on the live row);
            # by primary key from an array: joined to the CTE, the planner scanned the pending-only
            # index (every withdrawal planned so far) once per push
            "skipped AS (UPDATE vendors_delivery d SET status = %s, code = %s, message = %s, "
            "  finished_at = %s, updated_at = %s WHERE d.id = ANY(ARRAY(SELECT id FROM pushes WHERE status = %s)) "
            "  AND d.status = %s RETURNING d.destination_id), "
            f"plan (destination_id, operation, status, code, message, finished_at) AS (VALUES {values}), "
            "inserted AS (INSERT INTO vendors_delivery (lead_id, destination_id, operation, status, attempts, "
            "  due_at, remote_ref, code, message, finished_at, created_at, updated_at) "
            "  SELECT p.lead_id, p.destination_id, plan.operation, plan.status, 0, %s, p.remote_ref, "
            "  plan.code, plan.message, plan.finished_at, %s, %s "
            "  FROM pushes p JOIN plan ON plan.destination_id = p.destination_id WHERE p.status = %s "
            "  ON CONFLICT DO NOTHING RETURNING destination_id, operation, status, code) "
            "SELECT false, destination_id, %s, %s, %s, count(*) FROM skipped GROUP BY destination_id "
            "UNION ALL SELECT true, destination_id, operation, status, code, count(*) FROM inserted "
            "GROUP BY destination_id, operation, status, code",
            [",".join(map(str, lead_ids)), push, skipped, code, f"Not sent: the lead was {code} first.", now, now,
             pending, pending, *plan, now, now, now, accepted, push, skipped, code])
        return cursor.fetchall()


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
