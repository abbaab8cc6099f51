"""Segments: a multi-tenant service that keeps user segments, over GraphQL."""
