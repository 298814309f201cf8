"""One-line notices a user should see once per process (a kernel compiled, a library warmed up)."""

from __future__ import annotations

import sys

_SAID: set[str] = set()


def once(key: str, message: str) -> None:
    """Print ``message`` to stderr the first time ``key`` comes up in this process."""
    if key not in _SAID:
        _SAID.add(key)
        print(message, file=sys.stderr, flush=True)
