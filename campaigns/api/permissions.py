"""Permissions: every partner endpoint needs a valid, unrevoked API key."""
from rest_framework.permissions import BasePermission

from campaigns.models import ApiKey


class HasActiveApiKey(BasePermission):
    message = "Send your API key in the X-API-Key header (or 'Authorization: Bearer <key>')."

    def has_permission(self, request, view):
        return isinstance(request.auth, ApiKey)
