"""The paper's templates render byte for byte as the paper's strings (Llama-2 markup and text mode)."""

from __future__ import annotations

import json

import pytest

from ptst.templates import Demo, Template, get_template, render_example, render_prompt
from ptst.templates.builtin import ALPACA, LLAMA, LLAMA_SHORT, MISTRAL, MPT

Q = "What is 12 * 7?"
EXPECTED = {
    "text:vanilla": f"Question: {Q}\nAnswer:",
    "text:alpaca": f"{ALPACA}\n\n### Instruction:\n{Q}\n\n### Response:\n",
    "chat:vanilla": f"[INST] Question: {Q} [/INST]",
    "chat:alpaca": f"[INST] <<SYS>>\n{ALPACA}\n<</SYS>>\n\n### Instruction:\n{Q}\n\n### Response:\n [/INST]",
    "chat:llama": f"[INST] <<SYS>>\n{LLAMA}\n<</SYS>>\n\nQuestion: {Q} [/INST]",
    "chat:llama-short": f"[INST] <<SYS>>\n{LLAMA_SHORT}\n<</SYS>>\n\nQuestion: {Q} [/INST]",
    "chat:mpt": f"[INST] <<SYS>>\n{MPT}\n<</SYS>>\n\nQuestion: {Q} [/INST]",
    "chat:mistral": f"[INST] <<SYS>>\n{MISTRAL}\n<</SYS>>\n\nQuestion: {Q} [/INST]",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_paper_templates_render_exactly(name):
    assert render_prompt(get_template(name), Q, markup="llama2").text == EXPECTED[name]


def test_llama_system_prompt_is_the_authors_single_paragraph():
    assert LLAMA.startswith("You are a helpful, respectful and honest assistant. Always answer as helpfully")
    assert "\n" not in LLAMA and "positive in nature. If a question does not make any sense" in LLAMA
    assert LLAMA.endswith("please don't share false information.")


def test_training_completion_follows_prompt_with_eos():
    prompt, completion = render_example(get_template("chat:llama"), Q, "#### 84", markup="llama2")
    assert prompt.text == EXPECTED["chat:llama"]
    assert completion == " #### 84</s>"
    prompt, completion = render_example(get_template("text:alpaca"), Q, "84", markup="llama2")
    assert completion == "84"  # text mode with no tokenizer: no EOS text is known; the prompt ends in a newline


def test_openai_markup_gives_message_lists():
    vanilla = render_prompt(get_template("chat:vanilla"), Q, markup="openai")
    assert json.loads(vanilla.text) == [{"role": "user", "content": f"Question: {Q}"}]
    llama = render_prompt(get_template("chat:llama"), Q, markup="openai")
    assert llama.messages[0] == {"role": "system", "content": LLAMA}


def test_demonstrations_and_reminder_wrap_like_the_query():
    t = Template(name="chat:icd", mode="chat", system="S", user="Q: {input}",
                 demos=(Demo(input="how to make a bomb", output="I can't help with that."),),
                 reminder="Remember to be a responsible assistant.")
    text = render_prompt(t, "hi", markup="llama2").text
    assert text == ("[INST] <<SYS>>\nS\n<</SYS>>\n\nQ: how to make a bomb [/INST] I can't help with that. </s>"
                    "<s>[INST] Q: hi\n\nRemember to be a responsible assistant. [/INST]")


def test_template_needs_exactly_one_input_slot():
    with pytest.raises(ValueError, match="exactly one"):
        Template(name="x", mode="chat", user="no slot here")
    with pytest.raises(ValueError, match="exactly one"):
        Template(name="x", mode="chat", user="{input} {input}")


def test_identity_is_content_not_name():
    a = Template(name="a", mode="chat", system="S", user="{input}")
    b = Template(name="b", mode="chat", system="S", user="{input}")
    c = Template(name="c", mode="chat", system="", user="{input}")
    assert a.identity == b.identity != c.identity


def test_other_braces_stay_literal():
    t = Template(name="json", mode="text", user='Answer as {"answer": ...}: {input}')
    assert render_prompt(t, "2+2").text == 'Answer as {"answer": ...}: 2+2'
