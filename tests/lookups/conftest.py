"""The plans' spy fixture (shared with the HTTP front's tests, see support.py)."""

from tests.lookups.support import answered

__all__ = ["answered"]
