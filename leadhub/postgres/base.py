"""The backend classes (see the package docstring)."""
from django.db.backends.postgresql import base, features, operations
from django.utils.functional import cached_property

# PostgreSQL's Bind message counts parameters in a 16-bit integer.
MAX_BOUND_PARAMS = 65_535


class DatabaseFeatures(features.DatabaseFeatures):
    @cached_property
    def max_query_params(self):
        return MAX_BOUND_PARAMS if self.connection.settings_dict["OPTIONS"].get("server_side_binding") else None


class DatabaseOperations(operations.DatabaseOperations):
    def bulk_batch_size(self, fields, objs):
        limit = self.connection.features.max_query_params
        if not limit:
            return len(objs)
        width = sum(len(f.fields) if hasattr(f, "fields") else 1 for f in fields) or 1
        return max(1, limit // width)


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
    ops_class = DatabaseOperations
