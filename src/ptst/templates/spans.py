"""Where client and data text lands in a rendered prompt: render once as is and once with each piece of client
text swapped for a unique marker, then substitute the markers back, checking that the result is the plain render.
Chat templates may transform content; anything but trimming edge whitespace makes this fail loudly."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

from ptst.core.errors import PtstError

Spans = tuple[tuple[int, int], ...]
_MARKER = re.compile("\ue000([0-9a-f]{16})\\.(\\d+)\ue001")


class _Marks:
    """Client/data text swapped for unique markers while rendering, to find where it lands in the rendered text.
    Edge whitespace stays outside the marker, so templates that `trim` content treat both renders alike."""

    def __init__(self):
        self.nonce, self.texts = secrets.token_hex(8), []

    def mark(self, text: str) -> str:
        core = text.strip()
        if not core:
            return text
        self.texts.append(core)
        lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()):]
        return f"{lead}\ue000{self.nonce}.{len(self.texts) - 1}\ue001{trail}"

    def resolve(self, marked: str, plain: str, escape: Callable[[str], str] = str) -> Spans:
        """The spans of client text in `plain`, given the marked render; fails unless the two renders agree."""
        out, spans, size, pos = [], [], 0, 0
        for m in _MARKER.finditer(marked):
            if m.group(1) != self.nonce:
                continue  # marker-like text in the template itself (client text is all inside markers)
            out.append(marked[pos:m.start()])
            size += m.start() - pos
            text = escape(self.texts[int(m.group(2))])
            out.append(text)
            spans.append((size, size + len(text)))
            size, pos = size + len(text), m.end()
        out.append(marked[pos:])
        if "".join(out) != plain:
            raise PtstError("the chat template changes message text in a way ptst cannot trace, so it cannot "
                            "keep client text apart from the template's markup; use --markup llama2 or a text "
                            "template")
        return tuple(spans)


def traced(render: Callable[[Callable[[str], str]], str], escape: Callable[[str], str] = str
            ) -> tuple[str, Spans]:
    """`render(client)` renders with `client(text)` standing for each piece of client/data text; returns the plain
    render and the spans of that text in it."""
    plain = render(lambda text: text)
    marks = _Marks()
    return plain, marks.resolve(render(marks.mark), plain, escape)
