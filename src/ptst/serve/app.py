"""The OpenAI-compatible HTTP app: /v1/chat/completions (streaming and not), /v1/models, /health.

Every request is rendered through the server's test template (`render_conversation`), so the template's
system prompt is always present; the response names the template in `ptst_template` and the
`X-PTST-Template` header. Errors are OpenAI-style JSON with a 4xx status; logs carry no prompt or response text
unless `log_content` is on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ptst.core.errors import PtstError
from ptst.serve.batcher import Batcher, Busy, Job
from ptst.templates import Template
from ptst.templates.render import encode_rendered, render_conversation

log = logging.getLogger("ptst.serve")


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[dict]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        parts = [p.get("text") for p in self.content if isinstance(p, dict) and p.get("type") == "text"]
        if len(parts) != len(self.content) or not all(isinstance(p, str) for p in parts):
            raise ValueError("only text content parts are supported")
        return "".join(parts)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stream: bool = False
    seed: int | None = None
    n: int = Field(1, ge=1, le=1)


@dataclass
class ServeOptions:
    template: Template
    model_name: str
    adapter: str | None = None
    markup: str = "auto"
    system_policy: str = "auto"
    client_system: str = "append"
    max_new_tokens: int = 512  # default and ceiling for max_tokens
    max_prompt_tokens: int = 4096
    max_body_bytes: int = 1 << 20
    api_key_env: str | None = None
    log_content: bool = False


def error(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None):
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": status}},
                        status_code=status)


def create_app(loaded, batcher: Batcher, opts: ServeOptions):

    async def _drain(request: Request, *, limit: int) -> None:
        """Read and drop an over-large body (up to `limit`), so a client still sending it reads the 413 instead of
        a connection reset."""
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                break

    app = FastAPI(title="ptst serve", docs_url=None, redoc_url=None)
    tag = f"{opts.template.name}@{opts.template.identity}"
    key = os.environ.get(opts.api_key_env) if opts.api_key_env else None

    @app.middleware("http")
    async def guard(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > opts.max_body_bytes:
            await _drain(request, limit=64 * opts.max_body_bytes)
            return error(413, f"request body over {opts.max_body_bytes} bytes")
        if key is not None and request.url.path.startswith("/v1/"):
            if request.headers.get("authorization", "") != f"Bearer {key}":
                return error(401, "missing or wrong bearer token", "authentication_error")
        response = await call_next(request)
        response.headers["X-PTST-Template"] = tag
        return response

    @app.get("/health")
    async def health():
        return {"status": "ok", "template": opts.template.name, "template_hash": opts.template.identity,
                "queued": batcher.queue.qsize()}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": opts.model_name, "object": "model", "created": 0,
                                            "owned_by": "ptst", "ptst_template": opts.template.name}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.body()
        if len(body) > opts.max_body_bytes:
            return error(413, f"request body over {opts.max_body_bytes} bytes")
        try:
            req = ChatRequest.model_validate(json.loads(body))
            conversation = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                            for m in req.messages]
        except json.JSONDecodeError as err:
            return error(400, f"malformed JSON: {err.msg}")
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return error(400, f"{where}: {first['msg']}", param=where or None)
        except ValueError as err:
            return error(400, str(err))
        if not any(m["role"] == "user" for m in conversation):
            return error(400, "messages: at least one user message is needed", param="messages")
        max_new = req.max_completion_tokens or req.max_tokens or opts.max_new_tokens
        if max_new > opts.max_new_tokens:
            return error(400, f"max_tokens {max_new} is over this server's limit {opts.max_new_tokens}",
                         param="max_tokens")
        try:
            rendered, fate = render_conversation(opts.template, conversation, tokenizer=loaded.tokenizer,
                                                 markup=opts.markup, system_policy=opts.system_policy,
                                                 client_system=opts.client_system)
        except PtstError as err:
            return error(400, str(err), param="messages")
        except Exception as err:  # the model's chat template rejected the conversation (roles, order)
            return error(400, f"the model's chat template rejected the conversation: {err}", param="messages")
        ids = encode_rendered(rendered, loaded.tokenizer)
        if len(ids) > opts.max_prompt_tokens:
            return error(400, f"prompt is {len(ids)} tokens, over this server's limit {opts.max_prompt_tokens}",
                         param="messages")
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        stream = _TokenStream(asyncio.get_running_loop())
        job = Job(ids, max_new, req.temperature, req.top_p, req.seed or 0, stream.token, stream.done)
        try:
            batcher.submit(job)
        except Busy:
            return error(503, "the server is busy (request queue full); retry later", "server_busy")
        meta = {"ptst_template": opts.template.name, "ptst_template_hash": opts.template.identity,
                "ptst_system_policy": rendered.system_policy, "ptst_client_system": fate}
        log.info("request %s: %d prompt tokens, max %d new", rid, len(ids), max_new)
        if opts.log_content:
            log.info("request %s prompt: %r", rid, rendered.text)
        if req.stream:
            return StreamingResponse(_sse(stream, loaded.tokenizer, rid, opts, meta, log),
                                     media_type="text/event-stream")
        tokens, reason = await stream.finished()
        if reason.startswith("error"):
            return error(500, reason, "server_error")
        text = loaded.tokenizer.decode(tokens, skip_special_tokens=True)
        if opts.log_content:
            log.info("request %s response: %r", rid, text)
        return JSONResponse({"id": rid, "object": "chat.completion", "created": int(time.time()),
                             "model": opts.model_name, **meta,
                             "choices": [{"index": 0, "finish_reason": reason,
                                          "message": {"role": "assistant", "content": text}}],
                             "usage": {"prompt_tokens": len(ids), "completion_tokens": len(tokens),
                                       "total_tokens": len(ids) + len(tokens)}})

    return app


class _TokenStream:
    """Carries tokens from the batcher thread to the request's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop, self.queue = loop, asyncio.Queue()

    def token(self, token: int) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, ("token", token))

    def done(self, tokens: list[int], reason: str) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, ("done", (list(tokens), reason)))

    async def finished(self) -> tuple[list[int], str]:
        while True:
            kind, value = await self.queue.get()
            if kind == "done":
                return value


async def _sse(stream: _TokenStream, tokenizer, rid: str, opts: ServeOptions, meta: dict, log):
    created, tokens, sent = int(time.time()), [], ""

    def chunk(delta: dict, reason: str | None) -> str:
        return "data: " + json.dumps({"id": rid, "object": "chat.completion.chunk", "created": created,
                                      "model": opts.model_name, **meta,
                                      "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}) + "\n\n"

    yield chunk({"role": "assistant", "content": ""}, None)
    while True:
        kind, value = await stream.queue.get()
        if kind == "token":
            tokens.append(value)
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                continue
            if len(text) > len(sent):
                yield chunk({"content": text[len(sent):]}, None)
                sent = text
            continue
        final_tokens, reason = value
        text = tokenizer.decode(final_tokens, skip_special_tokens=True)
        if len(text) > len(sent):
            yield chunk({"content": text[len(sent):]}, None)
        if opts.log_content:
            log.info("request %s response: %r", rid, text)
        yield chunk({}, "stop" if reason == "stop" else "length" if reason == "length" else "error")
        yield "data: [DONE]\n\n"
        return
