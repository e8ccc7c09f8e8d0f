"""Rendering through real chat templates: model defaults, explicit empty system, and models without a system role."""

from __future__ import annotations

import copy

import pytest

from ptst.core.errors import PtstError
from ptst.templates import Template, get_template, render_example, render_prompt
from ptst.templates.builtin import LLAMA
from ptst.templates.render import end_of_turn, supports_system_role

# Mistral-7B-Instruct-v0.1's chat template: no system role, it raises on one.
MISTRAL_V01 = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)


@pytest.fixture()
def mistral_like(smol_tokenizer):
    tok = copy.deepcopy(smol_tokenizer)
    tok.chat_template = MISTRAL_V01
    for attr in ("_ptst_system_role", "_ptst_assistant_affixes"):
        tok.__dict__.pop(attr, None)
    return tok


def test_model_default_system_prompt_is_used_for_null(smol_tokenizer):
    r = render_prompt(get_template("chat:vanilla"), "Q", tokenizer=smol_tokenizer)
    assert r.system_policy == "model-default"
    assert "You are a helpful AI assistant named SmolLM" in r.text
    assert r.text.endswith("<|im_start|>user\nQuestion: Q<|im_end|>\n<|im_start|>assistant\n")


def test_explicit_empty_system_replaces_the_default(smol_tokenizer):
    t = Template(name="chat:empty", mode="chat", system="", user="Question: {input}")
    r = render_prompt(t, "Q", tokenizer=smol_tokenizer)
    assert "SmolLM" not in r.text and r.text.startswith("<|im_start|>system\n<|im_end|>")


def test_safety_prompt_goes_in_the_system_turn(smol_tokenizer):
    r = render_prompt(get_template("chat:llama"), "Q", tokenizer=smol_tokenizer)
    assert r.system_policy == "native"
    assert r.text.startswith(f"<|im_start|>system\n{LLAMA}<|im_end|>\n")


def test_end_of_turn_is_read_from_the_chat_template(smol_tokenizer):
    assert end_of_turn(smol_tokenizer) == "<|im_end|>"
    _, completion = render_example(get_template("chat:vanilla"), "Q", "#### 4", tokenizer=smol_tokenizer)
    assert completion == "#### 4<|im_end|>"


def test_system_prompt_is_folded_not_dropped_without_a_system_role(mistral_like):
    assert not supports_system_role(mistral_like)
    r = render_prompt(get_template("chat:llama"), "Q", tokenizer=mistral_like)
    assert r.system_policy == "folded"
    assert r.text == f"<|im_start|>[INST] {LLAMA}\n\nQuestion: Q [/INST]"


def test_native_policy_refuses_a_model_without_a_system_role(mistral_like):
    with pytest.raises(PtstError, match="no system role"):
        render_prompt(get_template("chat:llama"), "Q", tokenizer=mistral_like, system_policy="native")


def test_prompt_of_a_training_example_is_the_generation_prompt(smol_tokenizer):
    for name in ("chat:vanilla", "chat:llama", "chat:alpaca", "text:vanilla", "text:alpaca"):
        t = get_template(name)
        prompt, completion = render_example(t, "What is 2+2?", "4", tokenizer=smol_tokenizer)
        assert prompt == render_prompt(t, "What is 2+2?", tokenizer=smol_tokenizer)
        assert completion.removesuffix("<|im_end|>").strip() == "4"
