"""The one exception type for bad user input. The CLI turns it into one line on stderr and exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PtstError(Exception):
    """Bad input (a file, a row, a field, a name): the message names what is wrong and where."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix when a close match exists, else ''."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
