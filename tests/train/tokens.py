"""Token strings back to text without the tokenizer's own decoder (which strips SentencePiece's leading space)."""

from __future__ import annotations

import re


def detokenize(tokens: list[str], tokenizer) -> str:
    """SentencePiece pieces: `▁` is a space, `<0xNN>` a byte; byte-level BPE: the tokenizer's exact byte map."""
    if "▁" not in "".join(tokens) and not any(re.fullmatch(r"<0x[0-9A-F]{2}>", t) for t in tokens):
        return tokenizer.convert_tokens_to_string(tokens)
    raw = "".join(tokens).replace("▁", " ")
    return re.sub(r"<0x([0-9A-F]{2})>", lambda m: chr(int(m.group(1), 16)), raw)
