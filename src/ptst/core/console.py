"""The one console: results and rendered prompts on stdout, notes (and progress, core.progress) on stderr."""

from __future__ import annotations

import sys
from functools import lru_cache


@lru_cache(maxsize=1)
def out():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@lru_cache(maxsize=1)
def err():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def note(message: str) -> None:
    """A note for the person at the terminal (stderr, so stdout stays clean for pipes)."""
    err().print(message, markup=False)


def write_raw(text: str) -> None:
    """Exact text on stdout, nothing added or interpreted."""
    sys.stdout.write(text)
    sys.stdout.flush()
