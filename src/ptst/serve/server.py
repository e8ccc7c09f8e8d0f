"""Build and run the server: bind the address first (a bad host or a busy port is a one-line error before the
model loads), load the model, check the prompt limits against its context, share the template's prompt prefix,
then run uvicorn on the socket already bound."""

from __future__ import annotations

import errno
import logging
import os
import socket

from ptst.core.errors import PtstError
from ptst.serve.batcher import Batcher
from ptst.serve.config import ServeOptions
from ptst.templates.render import encode_rendered, render_conversation

_BIND_ERRORS = {errno.EADDRINUSE: "--port {port}: {host}:{port} is in use by another program; pick another --port",
                errno.EACCES: "--port {port}: binding it needs privileges this user does not have; use a port above "
                "1023",
                errno.EADDRNOTAVAIL: "--host {host}: not an address of this machine"}


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready socket bound to host:port, or a PtstError naming the flag that is wrong."""
    if not 1 <= port <= 65535:
        raise PtstError(f"--port {port}: must be between 1 and 65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError):
        raise PtstError(f"--host {host}: not an IP address or a name this machine can resolve") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        why = _BIND_ERRORS.get(err.errno, "--host {host} --port {port}: cannot listen there ({reason})")
        raise PtstError(why.format(host=host, port=port, reason=os.strerror(err.errno or 0))) from None
    return sock


def config_context(model: str, *, trust_remote_code: bool = False) -> int | None:
    """The model's context length from its config file alone (read before the weights load); None when it cannot
    be read this way (loading the model then reports what is wrong, or `context_of` reads the loaded config)."""
    from transformers import AutoConfig

    from ptst.models.load import resolve_model_path

    path = resolve_model_path(model)
    try:
        return context_of(AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure here is reported by load_model with its own message
        return None


def context_of(config) -> int | None:
    """The context length in tokens a model config gives (None when it does not say)."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_limits(opts: ServeOptions) -> None:
    """The prompt limit fits the model's context and leaves room for at least one new token."""
    if opts.context is None:
        if opts.max_prompt_tokens is None:
            raise PtstError("the model's config does not give its context length: set --max-prompt-tokens")
        return
    if opts.max_prompt_tokens is not None and opts.max_prompt_tokens > opts.context:
        raise PtstError(f"--max-prompt-tokens {opts.max_prompt_tokens}: over the model's context of "
                        f"{opts.context} tokens")
    if opts.max_new_tokens >= opts.context:
        raise PtstError(f"--max-tokens {opts.max_new_tokens}: leaves no room for a prompt in the model's context "
                        f"of {opts.context} tokens")


def template_prefix(loaded, opts: ServeOptions) -> list[int]:
    """Tokens every request under this template starts with (markup + system prompt), found by rendering two
    different conversations."""
    from ptst.models.decode import common_prefix

    ids = []
    for text in ("alpha", "omega zulu"):
        rendered, _ = render_conversation(opts.template, [{"role": "user", "content": text}],
                                          tokenizer=loaded.tokenizer, markup=opts.markup,
                                          system_policy=opts.system_policy)
        ids.append(encode_rendered(rendered, loaded.tokenizer))
    return ids[0][: common_prefix(ids)]


def build_app(model: str, opts: ServeOptions, *, dtype: str = "auto", device: str = "auto", max_batch: int = 8,
              max_queue: int = 64, trust_remote_code: bool = False):
    from ptst.models import load_model
    from ptst.serve.app import create_app

    opts.context = config_context(model, trust_remote_code=trust_remote_code)
    if opts.context is not None:
        check_limits(opts)  # before the weights load
    loaded = load_model(model, adapter=opts.adapter, dtype=dtype, device=device, trust_remote_code=trust_remote_code)
    opts.context = opts.context or context_of(getattr(loaded.model, "config", None))
    check_limits(opts)
    batcher = Batcher(loaded, max_batch=max_batch, max_queue=max_queue, shared_prefix=template_prefix(loaded, opts))
    return create_app(loaded, batcher, opts)


def serve(app, sock: socket.socket) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    server = uvicorn.Server(uvicorn.Config(app, log_level="info"))
    server.run(sockets=[sock])
