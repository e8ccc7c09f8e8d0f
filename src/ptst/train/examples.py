"""Training examples: prompt and completion tokenised separately, labels -100 on the prompt.

The prompt is `render_prompt` of the template (the exact string generation will see); the completion is the
reference answer plus the model's end-of-turn text. Nothing searches for a response marker, so the mask is right
for any chat template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ptst.data.item import Item
from ptst.templates import Template, render_example
from ptst.templates.render import encode_rendered

IGNORE = -100


@dataclass
class Example:
    id: str
    input_ids: list[int]
    labels: list[int]
    prompt_tokens: int


@dataclass
class ExampleStats:
    total: int = 0
    kept: int = 0
    dropped: int = 0
    truncated: int = 0
    lengths: list[int] = field(default_factory=list)

    def summary(self) -> str:
        if not self.lengths:
            return f"{self.total} examples, none kept ({self.dropped} over the length limit)"
        s = sorted(self.lengths)
        return (f"{self.kept} of {self.total} examples kept ({self.dropped} dropped, {self.truncated} truncated "
                f"as over-long); tokens per example min {s[0]}, median {s[len(s) // 2]}, max {s[-1]}")


def tokenize_example(item: Item, template: Template, tokenizer, *, markup: str = "auto",
                     system_policy: str = "auto") -> Example:
    prompt, completion = render_example(template, item.input, item.answer or "", tokenizer=tokenizer,
                                        markup=markup, system_policy=system_policy)
    p_ids = encode_rendered(prompt, tokenizer)
    c_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    return Example(item.id, p_ids + c_ids, [IGNORE] * len(p_ids) + c_ids, len(p_ids))


def build_examples(items: Sequence[Item], template: Template, tokenizer, *, max_length: int,
                   overlong: str = "drop", markup: str = "auto", system_policy: str = "auto"
                   ) -> tuple[list[Example], ExampleStats]:
    """Tokenise every item; over-long ones are dropped or have their completion cut (a prompt that alone
    exceeds the limit is always dropped: there would be nothing to learn from)."""
    stats, out = ExampleStats(total=len(items)), []
    for item in items:
        ex = tokenize_example(item, template, tokenizer, markup=markup, system_policy=system_policy)
        if len(ex.input_ids) > max_length:
            if overlong == "drop" or ex.prompt_tokens >= max_length:
                stats.dropped += 1
                continue
            ex.input_ids, ex.labels = ex.input_ids[:max_length], ex.labels[:max_length]
            stats.truncated += 1
        out.append(ex)
        stats.lengths.append(len(ex.input_ids))
    stats.kept = len(out)
    return out, stats


def mask_audit(example: Example, tokenizer) -> str:
    """The example token by token: masked (prompt) tokens in [brackets], trained tokens bare, then a count."""
    parts = []
    for tok_id, label in zip(example.input_ids, example.labels, strict=True):
        piece = tokenizer.decode([tok_id]).replace("\n", "\\n")
        parts.append(f"[{piece}]" if label == IGNORE else piece)
    trained = sum(label != IGNORE for label in example.labels)
    return (f"{example.id}: {len(example.input_ids)} tokens, {trained} trained\n"
            f"  [masked prompt tokens] trained tokens:\n  {'|'.join(parts)}")


class CompletionCollator:
    """Right-pads a batch; padding gets attention 0 and label -100 (whatever the pad token is, often EOS)."""

    def __init__(self, pad_token_id: int):
        self.pad = pad_token_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            ids[row, :n] = torch.tensor(f["input_ids"])
            labels[row, :n] = torch.tensor(f["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def make_collator(pad_token_id: int, *, packing: bool = False):
    """Padded rows (length-grouped batches keep the padding small), or with `packing` the whole batch as one row
    with position ids restarting at each example: transformers then masks attention to each example's own
    tokens, so packed and padded batches give the same loss, with no padding at all."""
    if not packing:
        return CompletionCollator(pad_token_id)
    from transformers import DataCollatorWithFlattening

    return DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE)
