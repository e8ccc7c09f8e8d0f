"""Fixtures of the training tests: the SentencePiece tokenizer family beside the byte-level one (tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def llama_tokenizer():
    """Mistral-7B v0.1's real SentencePiece model as transformers loads a Llama-2 tokenizer, with Llama-2's chat
    template (embedded:tiny-random-llama; prepared from the mistral-common wheel on first use)."""
    from ptst.models import load_tokenizer

    return load_tokenizer("embedded:tiny-random-llama")
