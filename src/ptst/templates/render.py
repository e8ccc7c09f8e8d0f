"""THE renderer: the only place that turns (template, input[, answer]) into what a model sees.

Training, generation, serving and export all call it, so the prompt a model is trained on is byte for byte the
prompt it is tested with. Markups:
- `auto`: chat templates go through the tokenizer's own chat template (`apply_chat_template`); text templates
  are the raw string.
- `llama2`: the paper's literal Llama-2 markup, `[INST] <<SYS>>\\n...\\n<</SYS>>\\n\\n... [/INST]`; BOS comes
  from the tokenizer at tokenisation.
- `openai`: an OpenAI-style message list (for API models), rendered as JSON.

System-prompt policy, for chat templates whose markup has no system role (Mistral-7B-Instruct v0.1/v0.2 raise
on one, others drop it silently): `auto` folds the system prompt into the first user turn, separated by a blank
line; `fold` always does; `native` refuses such a model. The applied policy is recorded with every sample:
`native`, `folded`, `model-default` (system: null, the chat template may insert its own) or `none`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ptst.core.errors import PtstError
from ptst.templates.encode import control_text_in, encode_text
from ptst.templates.model import Template
from ptst.templates.spans import traced as _traced

Markup = Literal["auto", "llama2", "openai"]
SystemPolicy = Literal["auto", "native", "fold"]
MARKUPS: tuple[str, ...] = get_args(Markup)
SYSTEM_POLICIES: tuple[str, ...] = get_args(SystemPolicy)
_PROBE = "ptst-system-probe-7f3a"


@dataclass(frozen=True)
class Rendered:
    """A rendered prompt. `text` is exactly what is tokenised (the generation prompt included)."""

    text: str
    markup: str  # chat-template | llama2 | openai | text
    system_policy: str  # native | folded | model-default | none
    messages: list[dict[str, str]] = field(default_factory=list)
    add_special_tokens: bool = False  # True where the tokenizer must add BOS (llama2 markup, text mode)
    # Character spans of `text` that came from a client or a data file: `encode_rendered` tokenises them as plain
    # text, never as control tokens.
    untrusted: tuple[tuple[int, int], ...] = ()


def encode_rendered(rendered: Rendered, tokenizer: Any) -> list[int]:
    """THE tokeniser of rendered text: the token ids a model gets for `rendered` (training, generation, serving).
    The template's markup becomes the tokenizer's control tokens; text in `rendered.untrusted` never does (a
    `<|im_start|>` typed by a user is tokenised as its characters). Without such strings in the untrusted text
    the ids are exactly `tokenizer(text, add_special_tokens=...)`."""
    return encode_text(rendered.text, rendered.untrusted, tokenizer, add_special_tokens=rendered.add_special_tokens)


def untrusted_control_text(rendered: Rendered, tokenizer: Any) -> tuple[str, ...]:
    """The tokenizer's control-token spellings found in the untrusted text (each tokenised as plain text)."""
    return control_text_in(rendered.text, rendered.untrusted, tokenizer)


def build_messages(template: Template, text: str, answer: str | None = None, *, fold: bool = False) -> list[dict]:
    """System (if any), demonstration turns, the user turn, and the assistant answer when training: the
    one-question case of `build_conversation`."""
    turns = [{"role": "user", "content": text}]
    if answer is not None:
        turns.append({"role": "assistant", "content": answer})
    return build_conversation(template, turns, fold=fold)[0]


def render_prompt(template: Template, text: str, *, tokenizer: Any = None, markup: Markup = "auto",
                  system_policy: SystemPolicy = "auto") -> Rendered:
    """The prompt for generation: everything up to where the model starts its answer."""
    if markup not in MARKUPS:
        raise PtstError(f"unknown markup {markup!r} (choose from {', '.join(MARKUPS)})")
    if system_policy not in SYSTEM_POLICIES:
        raise PtstError(f"unknown system policy {system_policy!r} (choose from {', '.join(SYSTEM_POLICIES)})")
    if template.mode == "text":
        prompt, spans = _traced(lambda client: _render_text(template, client(text)))
        return Rendered(prompt, "text", _policy_name(template, False), [], True, spans)
    if markup == "llama2":
        prompt, spans = _traced(lambda client: _render_llama2(build_messages(template, client(text))))
        return Rendered(prompt, "llama2", _policy_name(template, False), build_messages(template, text), True, spans)
    if markup == "openai":
        prompt, spans = _traced(lambda client: json.dumps(build_messages(template, client(text)), ensure_ascii=False),
                                escape=lambda t: json.dumps(t, ensure_ascii=False)[1:-1])
        return Rendered(prompt, "openai", _policy_name(template, False), build_messages(template, text), False, spans)
    if tokenizer is None:
        raise PtstError(f"template {template.name} is a chat template: give a --model (its chat template "
                        "renders it) or --markup llama2 / openai")
    fold = _must_fold(template, tokenizer, system_policy)
    prompt, spans = _traced(lambda client: _apply_chat_template(
        tokenizer, build_messages(template, client(text), fold=fold), add_generation_prompt=True))
    return Rendered(prompt, "chat-template", _policy_name(template, fold), build_messages(template, text, fold=fold),
                    False, spans)




def build_conversation(template: Template, conversation: list[dict], *, client_system: str = "append",
                       fold: bool = False) -> tuple[list[dict], str]:
    """A client's conversation under a test template (the server's and the export's rule): the template's
    system prompt first, a client's own system text kept after it (`append`, a blank line between), dropped
    (`ignore`) or refused (`reject`); demonstrations next; every user turn wrapped by the user format, the
    reminder on the last one. Returns the messages and what happened to the client's system text."""
    client = [m["content"] for m in conversation if m["role"] == "system"]
    turns = [dict(m) for m in conversation if m["role"] != "system"]
    fate = "none"
    if client:
        if client_system == "reject":
            raise PtstError(f"system messages are not accepted: the server applies template {template.name}")
        fate = "ignored" if client_system == "ignore" else "appended"
    users = [i for i, m in enumerate(turns) if m["role"] == "user"]
    for i in users:
        wrapped = template.user.replace("{input}", turns[i]["content"])
        if template.reminder and i == users[-1]:
            wrapped = f"{wrapped}\n\n{template.reminder}"
        turns[i]["content"] = wrapped
    demos = [m for d in template.demos for m in ({"role": "user", "content": template.user.replace("{input}", d.input)},
                                                {"role": "assistant", "content": d.output})]
    turns = demos + turns
    parts = [p for p in [template.system, *(client if fate == "appended" else [])] if p is not None]
    if not parts:
        return turns, fate
    system = "\n\n".join(parts)
    if fold and turns and turns[0]["role"] == "user":
        turns[0] = {"role": "user", "content": f"{system}\n\n{turns[0]['content']}" if system else turns[0]["content"]}
        return turns, fate
    return [{"role": "system", "content": system}, *turns], fate


def render_conversation(template: Template, conversation: list[dict], *, tokenizer: Any = None,
                        markup: Markup = "auto", system_policy: SystemPolicy = "auto",
                        client_system: str = "append") -> tuple[Rendered, str]:
    """The generation prompt for a whole client conversation (see `build_conversation`)."""
    if template.mode == "text":
        raise PtstError(f"template {template.name} is a text template; serving needs a chat template")
    llama2 = markup == "llama2"
    probe = template if template.system is not None else template.model_copy(update={"system": ""})
    fold = bool(not llama2 and tokenizer is not None and _must_fold(probe, tokenizer, system_policy))

    def build(client: Callable[[str], str]) -> tuple[list[dict], str]:
        turns = [{**m, "content": client(m["content"])} for m in conversation]
        return build_conversation(template, turns, client_system=client_system, fold=fold)

    def render(client: Callable[[str], str]) -> str:
        messages = build(client)[0]
        if llama2:
            return _render_llama2(messages)
        return _apply_chat_template(tokenizer, messages, add_generation_prompt=True)

    messages, fate = build(lambda text: text)
    prompt, spans = _traced(render)
    kind = "llama2" if llama2 else "chat-template"
    return Rendered(prompt, kind, _policy_name(template, fold), messages, llama2, spans), fate


def render_example(template: Template, text: str, answer: str, *, tokenizer: Any = None,
                   markup: Markup = "auto", system_policy: SystemPolicy = "auto") -> tuple[Rendered, str]:
    """A training example split in two: the generation prompt (identical to `render_prompt`) and the completion,
    which is the reference answer followed by the model's end-of-turn text. The loss goes on the completion."""
    prompt = render_prompt(template, text, tokenizer=tokenizer, markup=markup, system_policy=system_policy)
    if prompt.markup == "openai":
        raise PtstError("the openai markup is for API models; local training needs --markup auto or llama2")
    eos = getattr(tokenizer, "eos_token", None) or ""
    if prompt.markup == "chat-template":
        lead, eot = _assistant_affixes(tokenizer)
        return prompt, lead + answer + eot
    if prompt.markup == "llama2":
        eos = eos or "</s>"
    sep = "" if not prompt.text or prompt.text[-1].isspace() else " "
    return prompt, f"{sep}{answer}{eos}"


def end_of_turn(tokenizer: Any) -> str:
    """The text the chat template puts after an assistant reply (e.g. `<|im_end|>`), found by rendering a
    probe conversation; the EOS token when the template does not show one."""
    return _assistant_affixes(tokenizer)[1]


def _assistant_affixes(tokenizer: Any) -> tuple[str, str]:
    """What the chat template puts between the generation prompt and an assistant reply (Llama-2's: a space), and
    the end of turn after it, read from a probe conversation."""
    cached = getattr(tokenizer, "_ptst_assistant_affixes", None)
    if cached is not None:
        return cached
    probe = [{"role": "user", "content": "hi"}]
    prompt = _apply_chat_template(tokenizer, probe, add_generation_prompt=True)
    full = _apply_chat_template(tokenizer, [*probe, {"role": "assistant", "content": _PROBE}],
                                add_generation_prompt=False)
    tail, lead, eot = full[len(prompt):], "", ""
    if full.startswith(prompt) and _PROBE in tail:
        lead, _, after = tail.partition(_PROBE)
        eot = after.strip()
    affixes = (lead, eot or (tokenizer.eos_token or ""))
    try:
        tokenizer._ptst_assistant_affixes = affixes
    except AttributeError:
        pass
    return affixes


def supports_system_role(tokenizer: Any) -> bool:
    """Whether the chat template renders a system message (some raise, some drop it without a word)."""
    cached = getattr(tokenizer, "_ptst_system_role", None)
    if cached is not None:
        return cached
    try:
        out = _apply_chat_template(tokenizer, [{"role": "system", "content": _PROBE},
                                               {"role": "user", "content": "hi"}], add_generation_prompt=True)
        ok = _PROBE in out
    except Exception:  # jinja raises TemplateError("... roles must alternate ...") and the like
        ok = False
    try:
        tokenizer._ptst_system_role = ok
    except AttributeError:
        pass
    return ok


def _must_fold(template: Template, tokenizer: Any, policy: SystemPolicy) -> bool:
    if template.system is None or policy == "native" and supports_system_role(tokenizer):
        return False
    if policy == "fold":
        return True
    if supports_system_role(tokenizer):
        return False
    if policy == "native":
        raise PtstError(f"the model's chat template has no system role, so template {template.name} cannot be "
                        "rendered with --system-policy native; use auto or fold")
    return True


def _policy_name(template: Template, folded: bool) -> str:
    if template.system is None:
        return "model-default" if template.mode == "chat" else "none"
    return "folded" if folded else "native"


def _render_text(template: Template, text: str) -> str:
    parts = [f"{template.system}\n\n"] if template.system else []
    for demo in template.demos:
        parts.append(f"{template.user.replace('{input}', demo.input)} {demo.output}\n\n")
    parts.append(template.format_user(text))
    return "".join(parts)


def _render_llama2(messages: list[dict]) -> str:
    """Meta's Llama-2 chat markup; BOS is left to the tokenizer, later turns open with a literal `<s>`."""
    system = None
    if messages and messages[0]["role"] == "system":
        system, messages = messages[0]["content"], messages[1:]
    out, first = [], True
    for msg in messages:
        if msg["role"] == "user":
            content = msg["content"]
            if first and system is not None:
                content = f"<<SYS>>\n{system}\n<</SYS>>\n\n{content}"
            out.append(("" if first else "<s>") + f"[INST] {content} [/INST]")
            first = False
        else:
            out.append(f" {msg['content']} </s>")
    return "".join(out)


def _apply_chat_template(tokenizer: Any, messages: list[dict], *, add_generation_prompt: bool) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise PtstError("the model's tokenizer has no chat template: use a text template or --markup llama2")
    from jinja2 import TemplateError

    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    except TemplateError as err:  # a damaged template file, or one that refuses this conversation
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise PtstError(f"the model's chat template cannot render this conversation ({reason}); use a text "
                        "template or --markup llama2") from None
    if not isinstance(text, str):
        raise PtstError(f"the model's chat template rendered {type(text).__name__}, not text")
    return text
