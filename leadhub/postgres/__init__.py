"""LeadHub's PostgreSQL backend: Django's, told that a statement has at most 65,535 parameters.

With ``server_side_binding`` (``DB_SERVER_SIDE_BINDING``, on by default) psycopg sends every
query as a prepared statement, and PostgreSQL's wire protocol counts a statement's parameters
in 16 bits. Django's own backend assumes no limit, so ``bulk_create``, ``bulk_update`` and the
delete collector (cascades, ``SET_NULL``) sent one statement per call whatever its size and
failed past 65,535 values ("number of parameters must be between 0 and 65535"). Here:

- ``features.max_query_params`` is 65,535 under server-side binding (None otherwise, as in
  Django), and ``ops.bulk_batch_size`` derives batches from it, as Django does for SQLite
  and Oracle: Django's bulk operations chunk themselves;
- an ``__in`` list of more than ``ARRAY_IN_MIN`` values is sent as ONE array parameter
  (``col = ANY(%s::type[])``, see :mod:`.lookups`); PostgreSQL plans ``IN (…)`` as the same
  ``= ANY`` anyway, so plans are unchanged, and no list of ids is too long.

``ENGINE = "leadhub.postgres"`` (leadhub/settings.py) selects it; the ``leadhub.postgres`` app
registers the lookups.
"""
