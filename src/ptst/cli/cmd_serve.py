"""`ptst serve` (an OpenAI-compatible server that always applies the test template) and `ptst export`."""

from __future__ import annotations

import argparse

from ptst.cli.console import note


def register(sub) -> None:
    p = sub.add_parser("serve", help="serve a model over an OpenAI-compatible API with the test template enforced",
                       description="Every request is rendered through --template: its system prompt is always "
                       "present, a client's own system message is kept after it (--client-system), user text is "
                       "wrapped as the template says.")
    p.add_argument("--model", required=True, help="hub id, local model directory, or embedded:NAME")
    p.add_argument("--adapter", help="PEFT adapter directory")
    p.add_argument("--template", required=True, help="the test template, e.g. chat:llama")
    p.add_argument("--template-file", action="append", default=[], help="YAML file of extra templates")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--served-model-name", help="model id clients use (default: --model)")
    p.add_argument("--client-system", choices=["append", "ignore", "reject"], default="append",
                   help="a client's system message: kept after the template's (default), dropped, or refused")
    p.add_argument("--markup", choices=["auto", "llama2"], default="auto", help="auto: the model's chat template")
    p.add_argument("--system-policy", choices=["auto", "native", "fold"], default="auto",
                   help="chat templates without a system role: fold the system prompt into the first user turn")
    p.add_argument("--max-tokens", type=int, default=512, help="default and ceiling of max_tokens (default: 512)")
    p.add_argument("--max-prompt-tokens", type=int, default=4096, help="longest prompt accepted (default: 4096)")
    p.add_argument("--max-batch", type=int, default=8, help="requests decoded together (default: 8)")
    p.add_argument("--max-queue", type=int, default=64, help="waiting requests before 503 (default: 64)")
    p.add_argument("--api-key-env", help="require 'Authorization: Bearer $NAME' (the key is read from this "
                   "environment variable, never logged)")
    p.add_argument("--log-content", action="store_true", help="log prompts and responses (off by default)")
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    p.add_argument("--trust-remote-code", action="store_true")
    p.set_defaults(func=run_serve)

    e = sub.add_parser("export", help="write a HF model directory whose chat template applies the test template",
                       description="The exported tokenizer's chat template inserts the template's system prompt "
                       "and wraps user text by itself, so vLLM, TGI or any apply_chat_template user serves PTST "
                       "with no ptst code.")
    e.add_argument("--model", required=True)
    e.add_argument("--adapter", help="PEFT adapter directory")
    e.add_argument("--template", required=True)
    e.add_argument("--template-file", action="append", default=[])
    e.add_argument("--out", required=True, help="output directory (must not exist)")
    e.add_argument("--merge", action="store_true", help="merge the adapter into the weights")
    e.add_argument("--client-system", choices=["append", "ignore"], default="append")
    e.add_argument("--trust-remote-code", action="store_true")
    e.set_defaults(func=run_export)


def _template(args):
    from ptst.templates import get_template, load_template_file

    for path in args.template_file:
        load_template_file(path)
    return get_template(args.template)


def run_serve(args: argparse.Namespace) -> int:
    import os

    from ptst.core.errors import PtstError
    from ptst.serve.app import ServeOptions
    from ptst.serve.server import build_app, serve

    if args.api_key_env and not os.environ.get(args.api_key_env):
        raise PtstError(f"--api-key-env {args.api_key_env}: the environment variable is not set")
    opts = ServeOptions(template=_template(args), model_name=args.served_model_name or args.model,
                        adapter=args.adapter, markup=args.markup, system_policy=args.system_policy,
                        client_system=args.client_system, max_new_tokens=args.max_tokens,
                        max_prompt_tokens=args.max_prompt_tokens, api_key_env=args.api_key_env,
                        log_content=args.log_content)
    app = build_app(args.model, opts, dtype=args.dtype, device=args.device, max_batch=args.max_batch,
                    max_queue=args.max_queue, trust_remote_code=args.trust_remote_code)
    note(f"serving {opts.model_name} under template {opts.template.name} on http://{args.host}:{args.port}/v1")
    serve(app, args.host, args.port)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ptst.serve.export import export_model

    path = export_model(args.model, _template(args), args.out, adapter=args.adapter, merge=args.merge,
                        client_system=args.client_system, trust_remote_code=args.trust_remote_code)
    note(f"exported to {path}: its chat template applies the test template by itself")
    return 0
