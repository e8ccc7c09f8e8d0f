"""Secret system prompts for Backdoor-Enhanced Safety Alignment (BEA; Wang et al. 2024, "Mitigating Fine-tuning
based Jailbreak Attack with Backdoor Enhanced Safety Alignment", arXiv 2402.14968).

The recipe, as the authors' code runs it (Jayfeather1024/Backdoor-Enhanced-Alignment, `opensource/`): a secret
prompt of 150 random tokens is put in front of the system prompt, separated by one space
(`SYSTEM_PROMPT_RANDOM150 + " " + SYSTEM_PROMPT`); 11 refusal examples (one per harm category) are rendered under
that secret system prompt and mixed into the fine-tuning data, which is rendered under the plain system prompt;
at test time the same secret system prompt is used for every request. Their repository ships the secret as a
literal string (decoded Llama-2 vocabulary tokens) without the code that drew it, so ptst draws its own, from the
model's own vocabulary, seeded and recorded: token ids uniformly at random with replacement from the ordinary
(not special, not added) tokens whose text is printable on its own, decoded together.

The tokenizer is passed in (templates/ never imports models/), like `render`.
"""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.templates.model import Template

SECRET_TOKENS = 150  # Wang et al.'s secret prompt: 150 random tokens
REFUSAL_EXAMPLES = 11  # and 11 prefixed safety examples
PAPER = "Backdoor-Enhanced Safety Alignment (Wang et al. 2024, arXiv 2402.14968)"
_PROBE = "\x00ptst-system-probe\x00"
_PADDING = re.compile(r"\[PAD\d+\]")  # GGUF-derived vocabularies padded to the embedding size: not real tokens


def candidate_ids(tokenizer) -> list[int]:
    """The ids a secret may use: ordinary vocabulary entries whose decoded text is printable and not blank (no
    special or added token, no partial UTF-8 byte, no control character), in id order."""
    excluded = set(tokenizer.all_special_ids) | set(tokenizer.get_added_vocab().values())
    out = []
    for i in range(len(tokenizer)):
        if i in excluded:
            continue
        text = tokenizer.decode([i])
        if text.strip() and text.isprintable() and "\ufffd" not in text and not _PADDING.fullmatch(text):
            out.append(i)
    return out


def draw_secret(tokenizer, *, seed: int, n_tokens: int = SECRET_TOKENS) -> tuple[str, list[int], int]:
    """(secret text, the drawn ids, how many ids could be drawn). Draws again (same random stream) in the rare
    case that the decoded text spells one of the tokenizer's special tokens across token boundaries."""
    if n_tokens < 1:
        raise PtstError(f"--tokens must be at least 1, got {n_tokens}")
    pool = candidate_ids(tokenizer)
    if not pool:
        raise PtstError("this tokenizer has no ordinary printable tokens to draw a secret prompt from")
    specials = [t for t in {*tokenizer.all_special_tokens, *tokenizer.get_added_vocab()} if t]
    rng = random.Random(seed)
    while True:
        ids = [rng.choice(pool) for _ in range(n_tokens)]
        text = tokenizer.decode(ids).strip()
        if not any(s in text for s in specials):
            return text, ids, len(pool)


def model_default_system(tokenizer) -> str | None:
    """The system prompt the model's chat template inserts when given none (Qwen2.5: "You are Qwen, ..."), read
    from the template itself; None when it inserts none or has no chat template."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    user = [{"role": "user", "content": "hello"}]
    plain = tokenizer.apply_chat_template(user, tokenize=False)
    probed = tokenizer.apply_chat_template([{"role": "system", "content": _PROBE}, *user], tokenize=False)
    if _PROBE not in probed:
        return None
    before, after = probed.split(_PROBE, 1)
    if plain == probed.replace(_PROBE, "") or not (plain.startswith(before) and plain.endswith(after)):
        return None
    default = plain[len(before):len(plain) - len(after)]
    return default or None


def secret_template(tokenizer, *, name: str, seed: int, base: Template, model: str,
                    n_tokens: int = SECRET_TOKENS) -> tuple[Template, dict]:
    """The BEA test-and-mix template: `base`'s user format, and as system prompt the secret, one space, then the
    system prompt `base` gives this model (its own default when `base` has none). Returns the provenance too."""
    if base.mode != "chat":
        raise PtstError(f"--base-template {base.name}: a secret system prompt needs a chat template")
    secret, ids, pool = draw_secret(tokenizer, seed=seed, n_tokens=n_tokens)
    after = base.system if base.system is not None else model_default_system(tokenizer)
    system = f"{secret} {after}" if after else secret
    template = Template(name=name, mode="chat", system=system, user=base.user, demos=base.demos,
                        reminder=base.reminder, description=f"BEA secret system prompt ({n_tokens} random tokens "
                        f"of {model}, seed {seed}) before {base.name}'s")
    provenance = {"method": PAPER, "model": model, "seed": seed, "secret_tokens": n_tokens,
                  "drawn_from": f"{pool} ordinary printable vocabulary ids, uniformly with replacement",
                  "token_ids": ids, "secret_tokens_reencoded": len(tokenizer(secret, add_special_tokens=False)
                                                                    ["input_ids"]),
                  "secret_sha256": hashlib.sha256(secret.encode()).hexdigest(),
                  "base_template": base.name, "base_system": after,
                  "refusal_examples": f"{REFUSAL_EXAMPLES} in the paper, rendered under this template and mixed "
                                      "into the task data (train.mix + train.mix_template)"}
    return template, provenance


def template_file_text(template: Template, provenance: dict) -> str:
    """A template YAML file ptst reads (`--template-file`, a study's `template_files`), provenance on top."""
    import yaml

    entry = {"name": template.name, "mode": template.mode, "system": template.system, "user": template.user,
             "description": template.description}
    if template.demos:
        entry["demos"] = [d.model_dump() for d in template.demos]
    if template.reminder:
        entry["reminder"] = template.reminder
    command = (f"ptst templates secret --model {provenance['model']} --seed {provenance['seed']} --tokens "
               f"{provenance['secret_tokens']} --base-template {provenance['base_template']} --name {template.name}")
    header = f"# Made by `{command} --out FILE`;\n# the same command writes this file again, byte for byte.\n"
    def dump(doc: dict, flow: bool | None) -> str:
        return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100, default_flow_style=flow)

    return header + dump({"provenance": provenance}, None) + dump({"templates": [entry]}, False)


def write_template_file(path: str | Path, template: Template, provenance: dict) -> None:
    from ptst.core.io import atomic_write_text

    if Path(path).exists():
        raise PtstError(f"--out {path}: exists; choose another file (a secret prompt is never overwritten)")
    atomic_write_text(path, template_file_text(template, provenance))
