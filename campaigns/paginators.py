"""A paginator that does not count millions of rows to draw one page.

On PostgreSQL the total is the planner's estimate (``EXPLAIN``) when that is
large, and an exact ``COUNT(*)`` only when the estimate is small enough to be
cheap. Elsewhere it counts exactly (SQLite tables here stay small).
"""
import json

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

EXACT_COUNT_BELOW = 50_000


def estimated_count(queryset) -> int | None:
    """The planner's row estimate for ``queryset`` on PostgreSQL, else None."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self):
        queryset = self.object_list
        if hasattr(queryset, "query"):
            estimate = estimated_count(queryset)
            if estimate is not None and estimate >= EXACT_COUNT_BELOW:
                return estimate
        return super().count
