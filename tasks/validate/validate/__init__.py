"""Validates an uploaded object: real content type from magic bytes, size limits, user metadata."""
