"""The trained ids are the tokenization of the whole text (prompt, answer, end of turn) with exactly the prompt's
ids masked, for every markup and both tokenizer families: byte-level BPE (SmolLM2) and SentencePiece (Mistral-7B
v0.1's model, Llama-2's dummy prefix). The expected text after the prompt comes from the chat template itself,
Meta's Llama-2 format or the text template's literal layout, never from the code under test."""

from __future__ import annotations

import pytest

from ptst.core.errors import PtstError
from ptst.data import Item
from ptst.templates import Template, build_messages, get_template, render_prompt
from ptst.train.examples import IGNORE, CompletionCollator, build_examples, mask_audit, tokenize_example
from tests.train.tokens import detokenize

ITEM = Item("x-0", "Tom has 3 apples and buys 4 more. How many apples does he have?", "3 + 4 = 7\n#### 7")
# An answer that opens with a word: SentencePiece must give it one `▁Tom` piece, never a lone `▁` before it.
WORDY = Item("w-0", "How many apples does Tom have?", "Tom has 3 + 4 = 7 apples.\n#### 7")
FAMILIES = ["smol_tokenizer", "llama_tokenizer"]
# (template, markup): every markup: the model's chat template, Meta's llama2 strings, and plain text templates
CASES = [("chat:vanilla", "auto"), ("chat:llama", "auto"), ("chat:vanilla", "llama2"), ("chat:llama", "llama2"),
         ("text:vanilla", "auto"), ("text:alpaca", "auto")]
# What a text template puts between its prompt and the answer (its user format ends "Answer:" / "Response:\n").
TEXT_LEAD = {"text:vanilla": " ", "text:alpaca": ""}


def expected_completion(tokenizer, name: str, markup: str, item: Item) -> str:
    """The text that follows the prompt up to the end of the answer, then the EOS: as the chat template renders
    the whole conversation, as Meta's format puts it after `[/INST]`, or as the text template lays it out."""
    template = get_template(name)
    if template.mode == "text":
        return TEXT_LEAD[name] + item.answer + tokenizer.eos_token
    if markup == "llama2":
        return " " + item.answer + tokenizer.eos_token  # `[INST] ... [/INST] {answer} </s>`
    messages = build_messages(template, item.input, item.answer)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    assert full.startswith(prompt)
    after = full[len(prompt):]
    return after[:after.index(item.answer) + len(item.answer)] + tokenizer.eos_token


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name, markup", CASES)
def test_trained_ids_are_the_joint_tokenization_with_the_prompt_masked(request, family, name, markup):
    tokenizer = request.getfixturevalue(family)
    for item in (ITEM, WORDY):
        ex = tokenize_example(item, get_template(name), tokenizer, markup=markup)
        prompt = render_prompt(get_template(name), item.input, tokenizer=tokenizer, markup=markup)
        completion = expected_completion(tokenizer, name, markup, item)
        add = prompt.add_special_tokens
        joint = tokenizer(prompt.text + completion, add_special_tokens=add)["input_ids"]
        split_prompt = tokenizer(prompt.text, add_special_tokens=add)["input_ids"]
        assert ex.input_ids == joint  # the whole text as the model reads any document
        assert ex.input_ids[:ex.prompt_tokens] == split_prompt  # what generation feeds the model, masked
        assert ex.labels[:ex.prompt_tokens] == [IGNORE] * len(split_prompt)
        assert ex.labels[ex.prompt_tokens:] == ex.input_ids[ex.prompt_tokens:]
        trained = tokenizer.convert_ids_to_tokens(ex.input_ids[ex.prompt_tokens:])
        assert detokenize(trained, tokenizer) == completion  # not one character more or less
        assert ex.labels[-1] == tokenizer.eos_token_id  # EOS (end of turn) is trained


@pytest.mark.parametrize("name, markup", CASES)
def test_sentencepiece_answer_has_no_lone_dummy_prefix_and_one_bos(llama_tokenizer, name, markup):
    ex = tokenize_example(WORDY, get_template(name), llama_tokenizer, markup=markup)
    trained = llama_tokenizer.convert_ids_to_tokens(ex.input_ids[ex.prompt_tokens:])
    # one `▁Tom` piece after a space, a bare `Tom` right after the newline of `### Response:\n`; never a lone `▁`
    # and never the dummy prefix of a completion tokenised on its own
    assert trained[:2] == ["Tom" if name == "text:alpaca" else "▁Tom", "▁has"], trained[:3]
    assert ex.input_ids[0] == llama_tokenizer.bos_token_id
    assert ex.input_ids.count(llama_tokenizer.bos_token_id) == 1


@pytest.mark.parametrize("family", FAMILIES)
def test_a_prompt_whose_tokens_merge_into_the_answer_is_refused_by_name(request, family):
    tokenizer = request.getfixturevalue(family)
    trailing = Template(name="text:trailing-space", mode="text", user="Q: {input}\nA: ")
    with pytest.raises(PtstError, match="example w-0: under template text:trailing-space the prompt's tokens"):
        tokenize_example(WORDY, trailing, tokenizer)


def test_overlong_policy_is_counted(smol_tokenizer):
    long_item = Item("x-1", "word " * 400, "#### 1")
    kept, stats = build_examples([ITEM, long_item], get_template("chat:vanilla"), smol_tokenizer, max_length=128)
    assert (stats.kept, stats.dropped, stats.truncated) == (1, 1, 0)
    kept, stats = build_examples([ITEM, Item("x-2", "Q", "step " * 300)], get_template("chat:vanilla"),
                                 smol_tokenizer, max_length=128, overlong="truncate")
    assert (stats.kept, stats.dropped, stats.truncated) == (2, 0, 1) and len(kept[1].input_ids) == 128


def test_collator_masks_padding_even_when_pad_is_eos(smol_tokenizer):
    assert smol_tokenizer.pad_token_id == smol_tokenizer.eos_token_id  # the case that breaks naive masking
    a = tokenize_example(ITEM, get_template("chat:vanilla"), smol_tokenizer)
    b = tokenize_example(Item("y", "Hi", "#### 1"), get_template("chat:vanilla"), smol_tokenizer)
    batch = CompletionCollator(smol_tokenizer.pad_token_id)([vars(a), vars(b)])
    n = len(b.input_ids)
    assert batch["labels"][1, n:].eq(IGNORE).all() and batch["attention_mask"][1, n:].eq(0).all()
    assert batch["labels"][1, n - 1].item() == smol_tokenizer.eos_token_id  # the real end of turn is trained


def test_mask_audit_marks_the_prompt(smol_tokenizer):
    ex = tokenize_example(ITEM, get_template("chat:vanilla"), smol_tokenizer)
    audit = mask_audit(ex, smol_tokenizer)
    assert "[<|im_start|>]" in audit and "|####|" in audit.replace(" ", "")


@pytest.mark.slow  # SmolLM2 forward passes
def test_packed_batch_gives_the_padded_batch_loss_so_examples_do_not_see_each_other(smol_tokenizer, smol_model):
    import torch

    from ptst.train.examples import make_collator

    t = get_template("chat:vanilla")
    feats = [vars(tokenize_example(it, t, smol_tokenizer)) for it in
             (ITEM, Item("y", "Hi, what is 2 + 2?", "2 + 2 = 4\n#### 4"), Item("z", "Name a prime.", "7\n#### 7"))]
    padded = make_collator(smol_tokenizer.pad_token_id)(feats)
    packed = make_collator(smol_tokenizer.pad_token_id, packing=True)(feats)
    assert packed["input_ids"].shape == (1, sum(len(f["input_ids"]) for f in feats))  # one row, no padding
    assert "attention_mask" not in packed and packed["position_ids"][0, len(feats[0]["input_ids"])] == 0
    model = smol_model.model
    with torch.no_grad():
        # no cache, as in training (transformers recognises packed rows only without one)
        loss_padded = model(**padded, use_cache=False).loss
        loss_packed = model(**packed, use_cache=False).loss
        # the same examples packed in another order: attention across examples would change every loss after
        loss_swapped = model(**make_collator(0, packing=True)(feats[::-1]), use_cache=False).loss
    assert torch.allclose(loss_packed, loss_padded, atol=1e-4), (loss_packed, loss_padded)
    assert torch.allclose(loss_swapped, loss_padded, atol=1e-4)


@pytest.mark.slow  # SmolLM2 gradients
def test_trained_logits_only_gives_the_full_loss_and_gradients(smol_model):
    """Projecting only the positions whose next token is trained onto the vocabulary is the same loss, the same
    gradients, with the prompt's positions (most of each row) never reaching the language-model head."""
    import copy

    import torch
    from peft import LoraConfig, get_peft_model

    from ptst.train.examples import make_collator

    tok = smol_model.tokenizer
    feats = [{"input_ids": e.input_ids, "labels": e.labels} for e in (
        tokenize_example(it, get_template("chat:llama"), tok) for it in
        (ITEM, WORDY, Item("z", "Name a prime.", "7\n#### 7")))]
    full = make_collator(tok.pad_token_id)(feats)
    trimmed = make_collator(tok.pad_token_id, trained_logits_only=True)(feats)
    trained = sum(label != IGNORE for f in feats for label in f["labels"])
    assert trimmed["logits_to_keep"].sum() == trained == len(trimmed["shift_labels"])
    assert trimmed["logits_to_keep"].sum() < full["attention_mask"].sum() / 2  # the prompts are most tokens
    model = get_peft_model(copy.deepcopy(smol_model.model), LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                                       init_lora_weights=False))
    losses, grads = [], []
    for batch in (full, trimmed):
        model.zero_grad()
        loss = model(**batch, use_cache=False).loss
        loss.backward()
        losses.append(loss.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad]))
    assert torch.allclose(losses[0], losses[1], atol=1e-5), losses
    assert torch.allclose(grads[0], grads[1], atol=1e-6, rtol=1e-4)
    assert grads[0].abs().sum() > 0
