"""One ``DeprecationWarning`` per call site of the old API, naming what replaces it."""

from __future__ import annotations

import sys
import threading
import warnings

GUIDE = "docs/migrating-from-src.md"

_seen: set[tuple[str, int, str]] = set()
_lock = threading.Lock()


def deprecated(old: str, new: str, *, depth: int = 2) -> None:
    """Warn once for the caller's call site (``depth`` frames up) of ``old``.

    Python's own once-per-location registry is reset by ``warnings.simplefilter`` and
    bypassed by the "always" filter that test runners install; this one holds for the
    life of the process, so a service calling in a loop warns once per line."""
    frame = sys._getframe(depth)
    site = (frame.f_code.co_filename, frame.f_lineno, old)
    with _lock:
        if site in _seen:
            return
        _seen.add(site)
    warnings.warn(
        f"alex_db.compat: {old} is the old API; use {new} (see {GUIDE})",
        DeprecationWarning,
        stacklevel=depth + 1,
    )


def forget_call_sites() -> None:
    """Warn again at every call site (for a test that checks the warnings themselves)."""
    with _lock:
        _seen.clear()
