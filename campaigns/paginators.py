"""A paginator that does not count millions of rows to draw one page.

The total is the database's estimate (``leadhub.dbtools.estimated_count``: PostgreSQL's
planner) when that is large, and an exact ``COUNT(*)`` only when the estimate is small
enough to be cheap or there is none (SQLite).
"""
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from leadhub.dbtools import estimated_count

EXACT_COUNT_BELOW = 50_000


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self):
        queryset = self.object_list
        if hasattr(queryset, "query"):
            estimate = estimated_count(queryset)
            if estimate is not None and estimate >= EXACT_COUNT_BELOW:
                return estimate
        return super().count
