"""`ptst data list` and `ptst data show NAME`."""

from __future__ import annotations

import argparse
import json

from ptst.cli.commands import command
from ptst.cli.console import note, print_table, write_raw
from ptst.core.errors import PtstError


@command("data")
def register(sub) -> None:
    parser = sub.add_parser("data", help="list and inspect data sets")
    parser.set_defaults(subparser=parser)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=type(parser))
    verbs.add_parser("list", help="a table of every registered data set").set_defaults(func=list_data)
    p_show = verbs.add_parser("show", help="print items of a data set as JSON lines")
    p_show.add_argument("name", help="data set name (see `ptst data list`)")
    add_data_options(p_show)
    p_show.add_argument("--limit", type=int, metavar="N", help="only the first N items, in the data set's order "
                        "(after --sample; `--sample N` shows the items `--limit N` gives train, generate and studies)")
    p_show.set_defaults(func=show_data)


def add_data_options(parser: argparse.ArgumentParser, *, prefix: str = "") -> None:
    """The data-set options `ptst data show` shares with the data options of train, generate and studies (where
    `--limit` is the seeded subsample that `--sample` is here)."""
    parser.add_argument("--data-file", metavar="PATH", help="read the data set from a local file "
                        "(jsonl, json, csv, parquet, txt) instead of the hub")
    parser.add_argument("--data-format", choices=["jsonl", "json", "csv", "parquet", "txt"],
                        help="file format (default: from the file's suffix)")
    parser.add_argument("--input-field", help="field that holds the input (default: the data set's own)")
    parser.add_argument("--answer-field", help="field that holds the reference answer")
    parser.add_argument("--split", help="hub split (default: the data set's own)")
    parser.add_argument("--sample", type=int, metavar="N", help="a seeded random subsample of N items (kept in "
                        "the data set's order)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the subsample (default: 0)")


def list_data(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ptst.data import datasets

    table = Table(title="data sets", title_justify="left")
    for col in ("name", "role", "source", "description"):
        table.add_column(col, overflow="fold", no_wrap=col in ("name", "mode", "role"))
    for name, spec in datasets.items():
        table.add_row(name, spec.role, spec.source, spec.description)
    print_table(table)
    note("every data set also loads from a local file: --data-file PATH (--input-field/--answer-field to map)")
    return 0


def show_data(args: argparse.Namespace) -> int:
    from ptst.data import get_dataset, load_items

    spec = get_dataset(args.name)
    if args.limit is not None and args.limit < 1:
        raise PtstError(f"--limit must be at least 1, got {args.limit}")
    items = load_items(args.name, data_file=args.data_file, data_format=args.data_format,
                       input_field=args.input_field, answer_field=args.answer_field, split=args.split,
                       limit=args.sample, seed=args.data_seed)
    shown = items[:args.limit]
    write_raw("".join(json.dumps(item.to_dict(), ensure_ascii=False) + "\n" for item in shown))
    what = f"the first {len(shown)} of {len(items)}" if len(shown) < len(items) else f"{len(items)}"
    note(f"{what} items of {spec.name} (role {spec.role})" + (f", a random sample (--data-seed {args.data_seed})"
                                                             if args.sample else ""))
    return 0
