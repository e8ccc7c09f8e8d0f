"""`ptst templates list` and `ptst templates show NAME`."""

from __future__ import annotations

import argparse

from ptst.cli.commands import command
from ptst.cli.console import note, print_table, write_raw
from ptst.templates.render import MARKUPS, SYSTEM_POLICIES


@command("templates")
def register(sub) -> None:
    parser = sub.add_parser("templates", help="list and render prompt templates")
    parser.set_defaults(subparser=parser)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=type(parser))
    p_list = verbs.add_parser("list", help="a table of every registered template")
    add_template_file_option(p_list)
    p_list.set_defaults(func=list_templates)
    p_show = verbs.add_parser("show", help="print the exact rendered prompt (stdout) for one input")
    p_show.add_argument("name", help="template name (see `ptst templates list`) or a YAML file")
    p_show.add_argument("--input", default="{input}", help="the raw question or instruction to wrap")
    p_show.add_argument("--answer", help="also show the training completion for this reference answer")
    p_show.add_argument("--model", help="render through this model's own chat template")
    p_show.add_argument("--markup", choices=MARKUPS, help="auto: the --model's own chat template (the default); "
                        "llama2 or openai: a fixed markup instead, without a model")
    p_show.add_argument("--system-policy", default="auto", choices=SYSTEM_POLICIES,
                        help="what to do when the chat template has no system role (default: auto = fold)")
    p_show.add_argument("--trust-remote-code", action="store_true", help="allow the model's own code")
    add_template_file_option(p_show)
    p_show.set_defaults(func=show_template)
    from ptst.cli import templates_secret

    templates_secret.register(verbs)


def add_template_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template-file", action="append", default=[], metavar="FILE.yaml",
                        help="register the templates in this YAML file (repeatable)")


def load_template_files(args: argparse.Namespace) -> None:
    from ptst.templates import load_template_file

    for path in getattr(args, "template_file", None) or []:
        load_template_file(path)


def list_templates(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ptst.templates import templates

    load_template_files(args)
    table = Table(title="prompt templates", title_justify="left")
    for col in ("name", "mode", "system prompt", "user format"):
        table.add_column(col, overflow="fold", no_wrap=col in ("name", "mode", "role"))
    for name, t in templates.items():
        system = "(model default)" if t.system is None and t.mode == "chat" else _shorten(t.system or "-")
        table.add_row(name, t.mode, system, repr(t.user)[1:-1])
    print_table(table)
    note("system prompt (model default): the model's chat template decides; some (Qwen2.5, SmolLM2) insert their own")
    return 0


def show_template(args: argparse.Namespace) -> int:
    from ptst.core.errors import PtstError
    from ptst.templates import get_template, render_example, render_prompt

    load_template_files(args)
    template = get_template(args.name)
    if args.model and args.markup not in (None, "auto"):
        raise PtstError(f"--markup {args.markup} is a fixed markup and --model renders through the model's own chat "
                        "template: give one of them (or --markup auto with --model)")
    tokenizer = None
    if args.model:
        from ptst.models import load_tokenizer

        tokenizer = load_tokenizer(args.model, trust_remote_code=args.trust_remote_code)
    markup = args.markup or "auto"
    kw = dict(tokenizer=tokenizer, markup=markup, system_policy=args.system_policy)
    if args.answer is None:
        rendered = render_prompt(template, args.input, **kw)
        write_raw(rendered.text + "\n")
    else:
        rendered, completion = render_example(template, args.input, args.answer, **kw)
        write_raw(rendered.text + completion + "\n")
        note(f"loss on the completion only: {completion!r}")
    note(f"template {template.name} ({template.identity}), markup {rendered.markup}, "
         f"system policy {rendered.system_policy}" + (", BOS added at tokenisation" if rendered.add_special_tokens
                                                      and getattr(tokenizer, 'bos_token', None) else ""))
    return 0


def _shorten(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
