"""``__in`` with a long list as one array parameter on PostgreSQL (see the package docstring).

``Lead.objects.filter(pk__in=<70,000 ids>)`` bound 70,000 parameters and failed under
server-side binding; it now binds one array. Short lists keep Django's ``IN (%s, …)``.

The threshold is psycopg's: it caches the conversion of a query with at most
``MAX_CACHED_STATEMENT_PARAMS`` parameters and re-parses every longer one, and a text
that changes with the list's length is a new prepared statement for the server each
time. One array keeps the text fixed, whatever the length.
"""
from django.core.exceptions import EmptyResultSet
from django.db.models import Field
from django.db.models.fields.related import ForeignObject
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In
from django.db.models.expressions import ColPairs

# Lists longer than this become one array parameter (psycopg's MAX_CACHED_STATEMENT_PARAMS).
ARRAY_IN_MIN = 50


class _ArrayInMixin:
    def as_postgresql(self, compiler, connection):
        if (not self.rhs_is_direct_value() or isinstance(self.lhs, (ColPairs, tuple))
                or len(self.rhs) <= ARRAY_IN_MIN):
            return self.as_sql(compiler, connection)
        values = [value for value in dict.fromkeys(self.rhs) if value is not None]
        if not values:
            raise EmptyResultSet
        sqls, params = self.batch_process_rhs(compiler, connection, values)
        if any(sql != "%s" for sql in sqls):  # expressions in the list: Django's own SQL
            return self.as_sql(compiler, connection)
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        db_type = self.lhs.output_field.cast_db_type(connection)
        return f"{lhs_sql} = ANY(%s::{db_type}[])", (*lhs_params, list(params))


class ArrayIn(_ArrayInMixin, In):
    pass


class RelatedArrayIn(_ArrayInMixin, RelatedIn):
    pass


def register() -> None:
    Field.register_lookup(ArrayIn)
    ForeignObject.register_lookup(RelatedArrayIn)
