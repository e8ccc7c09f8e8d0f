"""The OpenAI-compatible HTTP app: /v1/chat/completions (streaming and not), /v1/models, /health.

Every request is rendered through the server's test template (`render_conversation`), so the template's
system prompt is always present; the response names the template in `ptst_template` and the
`X-PTST-Template` header, what happened to a client's system message in `ptst_client_system`, and the control-token
strings found in client text (tokenised as plain text) in `ptst_control_text`. Errors are OpenAI-style JSON with
a 4xx status and never carry an exception's text; logs carry no prompt or response text unless `log_content`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ptst.serve.batcher import Batcher, Busy, Job
from ptst.serve.config import ServeOptions
from ptst.serve.requests import Prepared, RequestError, prepare_request

log = logging.getLogger("ptst.serve")
RETRY_AFTER_S = "1"


class _TooLarge(Exception):
    pass


def error(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
          headers: dict | None = None):
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": status}},
                        status_code=status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, counted as it arrives (chunked bodies have no Content-Length): stops reading past `limit`."""
    chunks, seen = [], 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def bearer_ok(header: str, key: str) -> bool:
    """`Authorization: Bearer KEY`, the scheme matched case-insensitively (RFC 9110), the key in constant time."""
    scheme, _, token = header.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())


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
    too_large = f"request body over {opts.max_body_bytes} bytes"

    @app.middleware("http")
    async def guard(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > opts.max_body_bytes:
            await _drain(request, limit=64 * opts.max_body_bytes)
            return error(413, too_large)
        if key is not None and request.url.path.startswith("/v1/"):
            if not bearer_ok(request.headers.get("authorization", ""), key):
                return error(401, "missing or wrong bearer token", "authentication_error")
        response = await call_next(request)
        response.headers["X-PTST-Template"] = tag
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        """Unknown paths and wrong methods answer in the OpenAI error shape too."""
        message = {404: f"no endpoint {request.url.path}", 405: f"{request.method} is not allowed on "
                   f"{request.url.path}"}.get(exc.status_code, "request refused")
        return error(exc.status_code, message, headers=getattr(exc, "headers", None))

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
        try:
            body = await read_body(request, opts.max_body_bytes)
            prepared = await asyncio.to_thread(prepare_request, body, opts, loaded.tokenizer)
        except _TooLarge:
            return error(413, too_large)
        except RequestError as err:
            return error(err.status, err.message, err.kind, err.param)
        except Exception as err:  # a bug, not the client's fault: details go to the log, never to the client
            # an exception's text may quote the prompt, so the log has it only under --log-content
            log.error("preparing a request failed: %s", type(err).__name__, exc_info=opts.log_content)
            return error(500, "the server failed to prepare this request; the server log has the details",
                         "server_error")
        return await _complete(prepared)

    async def _complete(prepared: Prepared):
        req, ids, max_new = prepared.request, prepared.ids, prepared.max_new_tokens
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        stream = _TokenStream(asyncio.get_running_loop())
        job = Job(ids, max_new, req.temperature, req.top_p, req.seed or 0, stream.token, stream.done)
        try:
            batcher.submit(job)
        except Busy:
            return error(503, "the server is busy (request queue full); retry later", "server_busy",
                         headers={"Retry-After": RETRY_AFTER_S})
        meta = {"ptst_template": opts.template.name, "ptst_template_hash": opts.template.identity,
                "ptst_system_policy": prepared.rendered.system_policy, "ptst_client_system": prepared.client_system,
                "ptst_control_text": list(prepared.control_text)}
        log.info("request %s: %d prompt tokens, max %d new", rid, len(ids), max_new)
        if opts.log_content:
            log.info("request %s prompt: %r", rid, prepared.rendered.text)
            log.info("request %s prompt ids: %s", rid, ids)
        if req.stream:
            return StreamingResponse(_sse(stream, loaded.tokenizer, rid, opts, meta, log),
                                     media_type="text/event-stream")
        tokens, reason = await stream.finished()
        if reason.startswith("error"):
            log.error("request %s failed: %s", rid, reason)
            return error(500, "generation failed; the server log has the details", "server_error")
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
