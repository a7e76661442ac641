"""The partner API (issue 6): keyed, scoped, idempotent lead intake over DRF.

Layout: authentication (API keys), permissions, throttling (per key),
exceptions (one error shape), idempotency (Idempotency-Key on POST),
scoping (what a key may see), serializers, views, urls, deliveries (vendor
status read lazily), schema (drf-spectacular extensions) and admin (ApiKey).
"""
