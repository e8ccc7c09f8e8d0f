"""Read a SentencePiece `.model` file (a protobuf) without the sentencepiece or protobuf packages, and turn a BPE
model into the Hugging Face Llama tokenizer that transformers itself builds from one.

Only the fields a Llama-style tokenizer needs are read: the pieces (text, score, type), the model type, byte
fallback and the dummy prefix. Field numbers are those of sentencepiece's `sentencepiece_model.proto`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ptst.core.errors import PtstError

# SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
BPE_MODEL = 2  # TrainerSpec.ModelType


@dataclass(frozen=True)
class Piece:
    text: str
    score: float
    type: int


@dataclass(frozen=True)
class SentencePieceModel:
    pieces: tuple[Piece, ...]
    model_type: int
    byte_fallback: bool
    add_dummy_prefix: bool

    def vocab(self) -> dict[str, int]:
        return {p.text: i for i, p in enumerate(self.pieces)}


def read_sentencepiece(path: str | Path) -> SentencePieceModel:
    """The pieces and settings of a SentencePiece model file; PtstError when it is not one."""
    try:
        return _parse_model(Path(path).read_bytes())
    except (IndexError, ValueError, struct.error, UnicodeDecodeError) as err:
        raise PtstError(f"{path}: not a SentencePiece model file ({err})") from None


def llama_tokenizer(model: SentencePieceModel, *, legacy: bool, chat_template: str | None = None):
    """The transformers `LlamaTokenizer` of a SentencePiece BPE model with byte fallback (Llama-2, Mistral v0.1):
    merges ranked by piece score, as transformers' own conversion does; control and byte pieces never come out of a
    merge, so plain text can never turn into `<s>` or `</s>`."""
    from transformers import LlamaTokenizer
    from transformers.tokenization_utils_base import generate_merges

    if model.model_type != BPE_MODEL or not model.byte_fallback:
        raise PtstError("only SentencePiece BPE models with byte fallback become Llama tokenizers")
    vocab = model.vocab()
    unmergeable = {p.text for p in model.pieces if p.type in (UNKNOWN, CONTROL, BYTE)}
    merges = generate_merges(vocab, {p.text: p.score for p in model.pieces}, skip_tokens=unmergeable)
    return LlamaTokenizer(vocab=vocab, merges=merges, legacy=legacy, add_prefix_space=model.add_dummy_prefix,
                          add_bos_token=True, add_eos_token=False, chat_template=chat_template)


def _parse_model(buf: bytes) -> SentencePieceModel:
    pieces, trainer, normalizer = [], {}, {}
    for number, value in _fields(buf):
        if number == 1:  # ModelProto.pieces
            fields = dict(_fields(value))
            score = struct.unpack("<f", fields[2])[0] if 2 in fields else 0.0
            pieces.append(Piece(fields.get(1, b"").decode("utf-8"), score, fields.get(3, NORMAL)))
        elif number == 2:  # ModelProto.trainer_spec
            trainer = dict(_fields(value))
        elif number == 3:  # ModelProto.normalizer_spec
            normalizer = dict(_fields(value))
    if not pieces:
        raise ValueError("no pieces")
    # TrainerSpec: model_type = 3 (default UNIGRAM = 1), byte_fallback = 35; NormalizerSpec: add_dummy_prefix = 3
    return SentencePieceModel(tuple(pieces), trainer.get(3, 1), bool(trainer.get(35, 0)), bool(normalizer.get(3, 1)))


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field of one protobuf message: varints as ints, everything else as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, i = buf[i:i + width], i + width
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7
