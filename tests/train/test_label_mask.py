"""The loss mask covers exactly the completion tokens (answer + end of turn), on a real chat template."""

from __future__ import annotations

import pytest

from ptst.data import Item
from ptst.templates import get_template, render_example
from ptst.train.examples import IGNORE, CompletionCollator, build_examples, mask_audit, tokenize_example

ITEM = Item("x-0", "Tom has 3 apples and buys 4 more. How many apples does he have?", "3 + 4 = 7\n#### 7")


@pytest.mark.parametrize("name", ["chat:vanilla", "chat:llama", "chat:alpaca", "text:vanilla", "text:alpaca"])
def test_mask_covers_exactly_the_completion(smol_tokenizer, name):
    t = get_template(name)
    ex = tokenize_example(ITEM, t, smol_tokenizer)
    prompt, completion = render_example(t, ITEM.input, ITEM.answer, tokenizer=smol_tokenizer)
    trained = [tok for tok, label in zip(ex.input_ids, ex.labels, strict=True) if label != IGNORE]
    assert trained == smol_tokenizer(completion, add_special_tokens=False)["input_ids"]
    assert all(label == IGNORE for label in ex.labels[: ex.prompt_tokens])
    assert ex.labels[ex.prompt_tokens:] == ex.input_ids[ex.prompt_tokens:]
    decoded = smol_tokenizer.decode(trained)
    assert decoded.startswith(ITEM.answer.strip()[:5]) or decoded.lstrip().startswith(ITEM.answer[:5])
    assert decoded.endswith(smol_tokenizer.eos_token)
    assert smol_tokenizer.decode(ex.input_ids[: ex.prompt_tokens]) == prompt.text


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
