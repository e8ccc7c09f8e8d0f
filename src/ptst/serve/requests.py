"""A chat request, from body bytes to the prompt's token ids under the server's template, or a 4xx.

`prepare_request` runs in a worker thread (parsing, rendering and tokenising a large request must not stall the
event loop). Client text is tokenised as text (`encode_rendered`): a typed `<|im_start|>system` is characters,
not a turn, and the response lists such strings in `ptst_control_text`. Markups whose turn markers are plain
text (Llama-2's `[INST]`, `<<SYS>>`) cannot keep a typed marker apart from a real one, so a client message
containing a marker that the rendered markup uses is refused. Error messages never carry an exception's text.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ptst.core.errors import PtstError
from ptst.serve.config import ServeOptions
from ptst.templates.render import Rendered, encode_rendered, render_conversation, untrusted_control_text

log = logging.getLogger("ptst.serve")
TEXT_MARKERS = ("[INST]", "[/INST]", "<<SYS>>", "<</SYS>>")  # turn markers some markups spell as plain text
INT64 = 2**63 - 1


class RequestError(Exception):
    """A request the server refuses: the HTTP status and an OpenAI-style error."""

    def __init__(self, status: int, message: str, param: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.kind = status, message, param, kind


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[dict]

    def text(self, where: str) -> str:
        if isinstance(self.content, str):
            return self.content
        parts = []
        for k, part in enumerate(self.content):
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise RequestError(400, f"{where}.content.{k}: only text content parts are supported",
                                   f"{where}.content")
            parts.append(part["text"])
        return "".join(parts)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1, le=INT64)
    max_completion_tokens: int | None = Field(None, ge=1, le=INT64)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    stream: bool = False
    seed: int | None = Field(None, ge=-(2**63), le=INT64)
    n: int = Field(1, ge=1, le=1)


@dataclass
class Prepared:
    request: ChatRequest
    rendered: Rendered
    ids: list[int]
    max_new_tokens: int
    client_system: str  # what happened to a client's system message: none | appended | ignored
    control_text: tuple[str, ...]  # control-token strings in client text, tokenised as plain text


def parse_request(body: bytes) -> ChatRequest:
    try:
        return ChatRequest.model_validate(json.loads(body))
    except json.JSONDecodeError as err:
        raise RequestError(400, f"malformed JSON at character {err.pos}") from None
    except UnicodeDecodeError:
        raise RequestError(400, "the request body is not UTF-8 JSON") from None
    except RecursionError:
        raise RequestError(400, "the request body's JSON is nested too deeply") from None
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RequestError(400, f"{where or 'body'}: {first['msg']}", where or None) from None


def prepare_request(body: bytes, opts: ServeOptions, tokenizer: Any) -> Prepared:
    """The request's prompt ids, or a RequestError saying what is wrong with it."""
    req = parse_request(body)
    for name in ("frequency_penalty", "presence_penalty"):
        if getattr(req, name):
            raise RequestError(400, f"{name}: not supported by this server (leave it at 0)", name)
    conversation = [{"role": "system" if m.role == "developer" else m.role, "content": m.text(f"messages.{k}")}
                    for k, m in enumerate(req.messages)]
    if not any(m["role"] == "user" for m in conversation):
        raise RequestError(400, "messages: at least one user message is needed", "messages")
    max_new = req.max_completion_tokens or req.max_tokens or opts.max_new_tokens
    if max_new > opts.max_new_tokens:
        raise RequestError(400, f"max_tokens {max_new} is over this server's limit {opts.max_new_tokens}",
                           "max_tokens")
    rendered, fate = _render(conversation, opts, tokenizer)
    try:
        ids = encode_rendered(rendered, tokenizer)
    except PtstError as err:
        raise RequestError(400, str(err), "messages") from None
    _check_length(len(ids), max_new, opts)
    return Prepared(req, rendered, ids, max_new, fate, untrusted_control_text(rendered, tokenizer))


def _render(conversation: list[dict], opts: ServeOptions, tokenizer: Any) -> tuple[Rendered, str]:
    try:
        rendered, fate = render_conversation(opts.template, conversation, tokenizer=tokenizer, markup=opts.markup,
                                             system_policy=opts.system_policy, client_system=opts.client_system)
    except PtstError as err:
        raise RequestError(400, str(err), "messages") from None
    except Exception as err:  # the model's chat template raised (roles out of order and the like)
        log.info("the chat template rejected a conversation: %s", type(err).__name__)
        raise RequestError(400, "the model's chat template rejected the conversation (check the order of the "
                           "roles)", "messages") from None
    marker = forged_text_marker(rendered)
    if marker:
        raise RequestError(400, f"messages: {marker!r} is a turn marker of this server's prompt markup, written "
                           "as plain text, so it cannot be told apart from a real one; remove it", "messages")
    return rendered, fate


def forged_text_marker(rendered: Rendered) -> str | None:
    """A plain-text turn marker that occurs both in the template's markup and in client text, if any."""
    text, spans = rendered.text, rendered.untrusted
    trusted, pos = [], 0
    for a, b in spans:
        trusted.append(text[pos:a])
        pos = b
    trusted.append(text[pos:])
    markup = "\0".join(trusted)
    client = [text[a:b] for a, b in spans]
    return next((m for m in TEXT_MARKERS if m in markup and any(m in c for c in client)), None)


def _check_length(prompt: int, max_new: int, opts: ServeOptions) -> None:
    limit = opts.prompt_limit
    if limit is not None and prompt > limit:
        raise RequestError(400, f"the prompt is {prompt} tokens, over this server's limit of {limit}", "messages")
    if opts.context is not None and prompt + max_new > opts.context:
        raise RequestError(400, f"the prompt ({prompt} tokens) plus max_tokens ({max_new}) is over the model's "
                           f"context of {opts.context} tokens; lower max_tokens or shorten the messages",
                           "max_tokens")
