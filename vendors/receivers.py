"""Receivers of campaigns' intake signals (delivery planning lands with the pipeline)."""
