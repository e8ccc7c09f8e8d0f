"""`ptst templates secret`: a seeded, recorded secret system prompt template for Backdoor-Enhanced Safety
Alignment (Wang et al. 2024; see `ptst.templates.secret`).

    ptst templates secret --model embedded:qwen2.5-coder-0.5b-instruct --seed 0 --out configs/bea-secret.yaml
"""

from __future__ import annotations

import argparse

from ptst.cli.console import note


def register(verbs) -> None:
    p = verbs.add_parser("secret", help="write a secret system prompt template (Backdoor-Enhanced Safety Alignment)",
                         description="Draw a secret prompt of random tokens from the model's vocabulary (seeded) and "
                         "write a template YAML whose system prompt is the secret, one space, then the base "
                         "template's system prompt (Wang et al. 2024's recipe), with the provenance recorded. Use "
                         "it as a study's train.mix_template and test template.")
    p.add_argument("--model", required=True, help="whose tokenizer the random tokens come from")
    p.add_argument("--seed", type=int, required=True, help="the draw's seed (recorded in the file)")
    p.add_argument("--tokens", type=int, default=150, help="random tokens in the secret (default: 150, the paper's)")
    p.add_argument("--base-template", default="chat:vanilla",
                   help="the template the secret goes in front of: its user format, and its system prompt (or the "
                   "model's own default one, for chat:vanilla) after the secret (default: chat:vanilla)")
    p.add_argument("--name", default="bea:secret", help="the new template's name (default: bea:secret)")
    p.add_argument("--out", required=True, help="template YAML to write; an existing file is never overwritten")
    p.add_argument("--trust-remote-code", action="store_true", help="allow the model's own code")
    p.add_argument("--template-file", action="append", default=[], metavar="FILE.yaml",
                   help="register the templates in this YAML file first (for --base-template)")
    p.set_defaults(func=make_secret)


def make_secret(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ptst.core.errors import PtstError
    from ptst.core.paths import check_output_file
    from ptst.templates import Template, get_template, load_template_file
    from ptst.templates.secret import secret_template, write_template_file

    if Path(args.out).exists():
        raise PtstError(f"--out {args.out}: exists; choose another file (a secret prompt is never overwritten)")
    check_output_file(args.out)
    if args.tokens < 1:
        raise PtstError(f"--tokens must be at least 1, got {args.tokens}")
    try:
        Template(name=args.name, mode="chat")
    except ValueError:
        raise PtstError(f"--name {args.name!r}: a template name is non-empty with no spaces") from None
    for path in args.template_file:
        load_template_file(path)
    base = get_template(args.base_template)
    from ptst.models import load_tokenizer

    tokenizer = load_tokenizer(args.model, trust_remote_code=args.trust_remote_code)
    template, provenance = secret_template(tokenizer, name=args.name, seed=args.seed, base=base, model=args.model,
                                           n_tokens=args.tokens)
    write_template_file(args.out, template, provenance)
    note(f"wrote {args.out}: template {args.name}, a {args.tokens}-token secret (seed {args.seed}) before "
         f"{base.name}'s system prompt; keep it secret where it matters, and use it as train.mix_template and as "
         "the test template of the runs it was mixed into")
    return 0
