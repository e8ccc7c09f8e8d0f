"""Build and run the server: load the model, pick the template, share the template's prompt prefix, start
uvicorn."""

from __future__ import annotations

import logging

from ptst.models import load_model
from ptst.serve.app import ServeOptions, create_app
from ptst.serve.batcher import Batcher
from ptst.templates.render import encode_rendered, render_conversation


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
    loaded = load_model(model, adapter=opts.adapter, dtype=dtype, device=device, trust_remote_code=trust_remote_code)
    batcher = Batcher(loaded, max_batch=max_batch, max_queue=max_queue, shared_prefix=template_prefix(loaded, opts))
    return create_app(loaded, batcher, opts)


def serve(app, host: str, port: int) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(app, host=host, port=port, log_level="info")
