"""`ptst serve`: an OpenAI-compatible server that always applies the test template."""

from __future__ import annotations

import argparse

from ptst.cli.commands import command
from ptst.cli.console import note


@command("serve")
def register(sub) -> None:
    from ptst.cli.options import add_config_options
    from ptst.serve.config import ServeConfig

    p = sub.add_parser("serve", help="serve a model over an OpenAI-compatible API with the test template enforced",
                       description="Every request is rendered through --template: its system prompt is always "
                       "present, a client's own system message is kept after it (--client-system), user text is "
                       "wrapped as the template says, and text from clients is always tokenised as text (a typed "
                       "chat marker never becomes a control token).")
    add_config_options(p, ServeConfig)
    p.set_defaults(func=run_serve)


def _template(args):
    from ptst.templates import get_template, load_template_file

    for path in args.template_file:
        load_template_file(path)
    return get_template(args.template)


def run_serve(args: argparse.Namespace) -> int:
    import os

    from ptst.cli.options import resolve_config
    from ptst.core.errors import PtstError
    from ptst.serve.config import ServeConfig, ServeOptions
    from ptst.serve.server import bind_socket, build_app, serve

    cfg = resolve_config(ServeConfig, args)
    if cfg.api_key_env and not os.environ.get(cfg.api_key_env):
        raise PtstError(f"--api-key-env {cfg.api_key_env}: the environment variable is not set")
    template = _template(cfg)
    sock = bind_socket(cfg.host, cfg.port)  # before the model loads: a busy port or bad host fails at once
    opts = ServeOptions(template=template, model_name=cfg.served_model_name or cfg.model, adapter=cfg.adapter,
                        markup=cfg.markup, system_policy=cfg.system_policy, client_system=cfg.client_system,
                        max_new_tokens=cfg.max_tokens, max_prompt_tokens=cfg.max_prompt_tokens,
                        max_body_bytes=cfg.max_body_bytes, api_key_env=cfg.api_key_env, log_content=cfg.log_content)
    try:
        app = build_app(cfg.model, opts, dtype=cfg.dtype, device=cfg.device, max_batch=cfg.max_batch,
                        max_queue=cfg.max_queue, trust_remote_code=cfg.trust_remote_code)
    except BaseException:
        sock.close()
        raise
    note(f"serving {opts.model_name} under template {template.name} on http://{cfg.host}:{cfg.port}/v1")
    serve(app, sock)
    return 0

