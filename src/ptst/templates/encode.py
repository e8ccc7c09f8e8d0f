"""Tokenising rendered text so that client and data text stays text.

A tokenizer parses its added tokens (`<|im_start|>`, `</s>`, `<tool_call>`, ...) out of any text it is given, so a
user who types a model's chat markers would otherwise open turns of their own. `encode_text` tokenises the whole
text as the tokenizer always has, then replaces each added token that came from an untrusted span by the tokens
of its characters as plain text (tokenised in mid-text context, so SentencePiece adds no word-start marker the
user did not type). Untrusted text without such a string gets exactly the ids it always got.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from ptst.core.errors import PtstError

Spans = Sequence[tuple[int, int]]
_ANCHORS = ("\n", " ", ".")  # text put before a piece so it is tokenised as in mid-text, then dropped


def control_ids(tokenizer: Any) -> frozenset[int]:
    """The ids of the tokenizer's added tokens: the ones it parses out of raw text by their spelling."""
    cached = getattr(tokenizer, "_ptst_control_ids", None)
    if cached is None:
        cached = frozenset(getattr(tokenizer, "added_tokens_decoder", {}) or {})
        _remember(tokenizer, "_ptst_control_ids", cached)
    return cached


def control_strings(tokenizer: Any) -> tuple[str, ...]:
    """The spellings of the tokenizer's added tokens, longest first."""
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return tuple(sorted({str(t) for t in decoder.values() if str(t)}, key=len, reverse=True))


def control_text_in(text: str, spans: Spans, tokenizer: Any) -> tuple[str, ...]:
    """The added-token spellings that occur in the untrusted spans of `text`, sorted."""
    pieces = [text[a:b] for a, b in spans]
    return tuple(sorted({c for c in control_strings(tokenizer) if any(c in p for p in pieces)}))


def encode_text(text: str, spans: Spans, tokenizer: Any, *, add_special_tokens: bool) -> list[int]:
    """Token ids of `text`; no id produced from characters inside `spans` is an added (control) token."""
    if not spans or not control_ids(tokenizer):
        return tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
    if not getattr(tokenizer, "is_fast", False):
        found = control_text_in(text, spans, tokenizer)
        if found:
            raise PtstError(f"client or data text contains the control token {found[0]!r} and this tokenizer "
                            f"({type(tokenizer).__name__}) cannot report offsets to keep it as text; use a fast "
                            "(tokenizers) tokenizer")
        return tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
    enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    controls, out = control_ids(tokenizer), []
    for token, (start, end) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
        inside = [(a, b) for a, b in spans if start < b and a < end] if token in controls and end > start else []
        if not inside:
            out.append(token)
            continue
        if not any(a <= start and end <= b for a, b in inside):
            raise PtstError(f"client or data text at characters {inside[0][0]}-{inside[0][1]} runs into the "
                            f"template's control token {text[start:end]!r}; ptst cannot tell the two apart")
        out.extend(_cached_text_ids(text[start:end], tokenizer, at_start=start == 0))
    return out


def _cached_text_ids(piece: str, tokenizer: Any, *, at_start: bool) -> list[int]:
    """`_text_ids`, remembered per tokenizer: a text typing the same marker many times costs one encode."""
    cache = getattr(tokenizer, "_ptst_text_ids", None)
    if cache is None:
        cache = {}
        _remember(tokenizer, "_ptst_text_ids", cache)
    key = (piece, at_start)
    if key not in cache:
        if len(cache) >= 4096:
            cache.clear()
        cache[key] = _text_ids(piece, tokenizer, at_start=at_start)
    return cache[key]


def _text_ids(piece: str, tokenizer: Any, *, at_start: bool) -> list[int]:
    """`piece` tokenised as characters, with no added token: added tokens that are not 'special' (which the
    tokenizer's split mode still parses, e.g. Qwen's `<tool_call>`) are broken after their first character."""
    ids, offsets = _encode_plain(piece, tokenizer, at_start=at_start)
    controls = control_ids(tokenizer)
    hit = next((k for k, token in enumerate(ids) if token in controls), None)
    if hit is None:
        return ids
    cut = offsets[hit][0] + 1
    if len(piece) == 1:
        raise PtstError(f"the character {piece!r} is itself a control token of this tokenizer; it cannot be "
                        "given as text")
    return _text_ids(piece[:cut], tokenizer, at_start=at_start) + _text_ids(piece[cut:], tokenizer, at_start=False)


def _encode_plain(piece: str, tokenizer: Any, *, at_start: bool) -> tuple[list[int], list[tuple[int, int]]]:
    """Ids and offsets (relative to `piece`) of `piece` with special tokens split, tokenised as it would be after
    other text (or at the very start of the text, when `at_start`)."""
    backend = _text_backend(tokenizer)
    if at_start:
        enc = backend.encode(piece, add_special_tokens=False)
        return list(enc.ids), list(enc.offsets)
    for anchor in _ANCHORS:
        enc, cut = backend.encode(anchor + piece, add_special_tokens=False), len(anchor)
        if any(start < cut < end for start, end in enc.offsets):
            continue  # the anchor merged with the piece: try another
        kept = [(i, (s - cut, e - cut)) for i, (s, e) in zip(enc.ids, enc.offsets, strict=True) if s >= cut]
        if kept:
            return [i for i, _ in kept], [o for _, o in kept]
    raise PtstError(f"cannot tokenise {piece!r} as plain text with this tokenizer")


def _text_backend(tokenizer: Any):
    """A private copy of the fast tokenizer's backend that splits special tokens: the shared one is never switched
    (other threads may be tokenising with it)."""
    cached = getattr(tokenizer, "_ptst_text_backend", None)
    if cached is None:
        cached = copy.deepcopy(tokenizer.backend_tokenizer)
        cached.encode_special_tokens = True
        cached.no_truncation()
        cached.no_padding()
        _remember(tokenizer, "_ptst_text_backend", cached)
    return cached


def _remember(tokenizer: Any, name: str, value: Any) -> None:
    try:
        setattr(tokenizer, name, value)
    except AttributeError:
        pass
