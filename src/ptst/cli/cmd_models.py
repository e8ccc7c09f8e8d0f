"""`ptst models list` and `ptst models prepare NAME`."""

from __future__ import annotations

import argparse

from ptst.cli.commands import command
from ptst.cli.console import note, out, print_table


@command("models")
def register(sub) -> None:
    parser = sub.add_parser("models", help="list and prepare the embedded models")
    parser.set_defaults(subparser=parser)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=type(parser))
    verbs.add_parser("list", help="each embedded model, its size, whether it is prepared, and where"
                     ).set_defaults(func=list_models)
    p_prep = verbs.add_parser("prepare", help="download, verify and dequantise an embedded model into the cache")
    p_prep.add_argument("name", help="e.g. embedded:smollm2-135m-instruct")
    p_prep.set_defaults(func=prepare_model)


def list_models(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ptst.models import embedded

    table = Table(title="embedded models (--model embedded:NAME)", title_justify="left")
    for col in ("name", "params", "prepared", "where", "what"):
        table.add_column(col, overflow="fold", no_wrap=col in ("name", "params", "prepared"))
    for name, spec in embedded.items():
        table.add_row(name, spec.params, "yes" if spec.is_prepared() else "no", str(spec.cache_dir),
                      spec.description)
    print_table(table)
    note("any command that needs a model prepares it on first use; the cache is $PTST_HOME (~/.cache/ptst)")
    return 0


def prepare_model(args: argparse.Namespace) -> int:
    from ptst.models import embedded, prepare

    spec = embedded.get(args.name)
    already = spec.is_prepared()
    path = prepare(spec.name)
    note(f"{spec.name}: {'already prepared' if already else 'prepared'} at {path}")
    out().print(str(path))
    return 0
