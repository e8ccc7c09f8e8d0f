"""Training examples: the full text (prompt + completion) tokenised as one, labels -100 on the prompt's tokens.

The prompt is `render_prompt` of the template (the exact string generation will see); the completion is the
reference answer plus the model's end-of-turn text. The trained ids are the tokenization of the whole text, as
the model reads any document, never the completion tokenised on its own: a SentencePiece tokenizer (Llama-2,
Mistral) would give a lone completion an extra dummy-prefix `▁` the model never produces after the prompt. The
prompt's own tokens (what generation feeds the model) must be a prefix of the full text's, or the example is
refused. Nothing searches for a response marker, so the mask is right for any chat template.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ptst.core.errors import PtstError
from ptst.data.item import Item
from ptst.templates import Rendered, Template, render_example
from ptst.templates.render import encode_rendered

IGNORE = -100


@dataclass
class Example:
    id: str
    input_ids: list[int]
    labels: list[int]
    prompt_tokens: int
    template: str = ""
    prompt: str = ""  # the rendered prompt text


@dataclass
class ExampleStats:
    total: int = 0
    kept: int = 0
    dropped: int = 0
    truncated: int = 0
    lengths: list[int] = field(default_factory=list)

    def add(self, other: ExampleStats) -> None:
        """Count another data set's examples too (the --mix data beside the task data)."""
        self.total, self.kept = self.total + other.total, self.kept + other.kept
        self.dropped, self.truncated = self.dropped + other.dropped, self.truncated + other.truncated
        self.lengths.extend(other.lengths)

    def summary(self) -> str:
        if not self.lengths:
            return f"{self.total} examples, none kept ({self.dropped} over the length limit)"
        s = sorted(self.lengths)
        return (f"{self.kept} of {self.total} examples kept ({self.dropped} dropped, {self.truncated} truncated "
                f"as over-long); tokens per example min {s[0]}, median {s[len(s) // 2]}, max {s[-1]}")


def tokenize_example(item: Item, template: Template, tokenizer, *, markup: str = "auto",
                     system_policy: str = "auto") -> Example:
    """The full text's token ids with the prompt's masked; PtstError when the prompt's tokens are not a prefix
    of them (the tokenizer merges across the prompt/answer boundary, so no mask would be right)."""
    answer = item.answer or ""
    prompt, completion = render_example(template, item.input, answer, tokenizer=tokenizer, markup=markup,
                                        system_policy=system_policy)
    p_ids = encode_rendered(prompt, tokenizer)
    ids = encode_rendered(training_text(prompt, completion, answer), tokenizer)
    if ids[:len(p_ids)] != p_ids:
        at = next((i for i, (a, b) in enumerate(zip(p_ids, ids, strict=False)) if a != b), len(ids))
        raise PtstError(
            f"example {item.id}: under template {template.name} the prompt's tokens are not a prefix of the tokens "
            f"of prompt + answer (from token {at}: {tokenizer.convert_ids_to_tokens(p_ids[at:at + 3])} vs "
            f"{tokenizer.convert_ids_to_tokens(ids[at:at + 3])}), so no loss mask would be exact; end the "
            "template's user format with a character the answer cannot merge with (not a space)")
    return Example(item.id, ids, [IGNORE] * len(p_ids) + ids[len(p_ids):], len(p_ids), template.name, prompt.text)


def training_text(prompt: Rendered, completion: str, answer: str) -> Rendered:
    """The whole training text as one Rendered: the prompt's untrusted spans plus the answer's (data-file text is
    tokenised as plain text); the end of turn after the answer stays markup."""
    start = len(prompt.text) + completion.find(answer)
    answer_span = ((start, start + len(answer)),) if answer else ()
    return replace(prompt, text=prompt.text + completion, untrusted=prompt.untrusted + answer_span)


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


def audit_record(example: Example, tokenizer) -> dict:
    """One example as `--audit-json` writes it: the ids, the labels (-100 = masked) and each id's token string."""
    return {"id": example.id, "template": example.template, "prompt": example.prompt,
            "prompt_tokens": example.prompt_tokens, "input_ids": example.input_ids, "labels": example.labels,
            "tokens": tokenizer.convert_ids_to_tokens(example.input_ids)}


class CompletionCollator:
    """Right-pads a batch; padding gets attention 0 and label -100 (whatever the pad token is, often EOS).

    With `trained_logits_only`, the model projects onto the vocabulary only the positions whose next token is
    trained (`logits_to_keep` as a mask, the loss reading `shift_labels`): the prompt's positions, most of each
    row, never reach the language-model head or the cross entropy. Same loss, far less work with a large
    vocabulary (Qwen2.5: 151,936 entries)."""

    def __init__(self, pad_token_id: int, *, trained_logits_only: bool = False):
        self.pad = pad_token_id
        self.trained_logits_only = trained_logits_only

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
        batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        if self.trained_logits_only:
            next_labels = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=IGNORE)  # what each position predicts
            keep = next_labels.ne(IGNORE)
            batch.update(logits_to_keep=keep, shift_labels=next_labels[keep])
        return batch


def make_collator(pad_token_id: int, *, packing: bool = False, trained_logits_only: bool = False):
    """Padded rows (length-grouped batches keep the padding small), or with `packing` the whole batch as one row
    with position ids restarting at each example: transformers then masks attention to each example's own
    tokens, so packed and padded batches give the same loss, with no padding at all. `trained_logits_only`: see
    `CompletionCollator` (for models whose forward takes `logits_to_keep`)."""
    if not packing:
        return CompletionCollator(pad_token_id, trained_logits_only=trained_logits_only)
    from transformers import DataCollatorWithFlattening

    return DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE)


def in_rounds(task: list[Example], mixed: list[Example], rounds: int, *, seed: int, batch: int) -> list[Example]:
    """One epoch in which each mixed-in example is shown `rounds` times: `rounds` consecutive blocks, each with one
    copy of every mixed example and its share of the task examples (seeded), every block but the last a whole
    number of batches, so no batch ever holds two copies of one example. Within a block, batches of similar
    lengths (as length-grouped sampling makes them), in random order."""
    rng = random.Random(seed)
    task = list(task)
    rng.shuffle(task)
    blocks, start = [], 0
    for b in range(rounds):
        if b == rounds - 1:
            share = len(task) - start
        else:
            ideal = len(mixed) + (len(task) - start) / (rounds - b)
            size = max(batch * round(ideal / batch), batch * -(-len(mixed) // batch))
            share = max(0, min(len(task) - start, size - len(mixed)))
        block = task[start:start + share] + list(mixed)
        start += share
        rng.shuffle(block)
        block.sort(key=lambda e: len(e.input_ids), reverse=True)
        batches = [block[i:i + batch] for i in range(0, len(block), batch)]
        rng.shuffle(batches)
        blocks += [e for chunk in batches for e in chunk]
    return blocks
