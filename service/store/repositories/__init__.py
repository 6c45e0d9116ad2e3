"""Keyword-only data functions ``(session, *, ...)``. They add and flush, never commit:
the caller owns the transaction, so a trigger event and the work it implies commit together."""
