"""`ptst`: the command group. Exit codes: 0 success, 2 bad input (one line, no traceback; `PTST_DEBUG=1` shows
the traceback), 1 anything else."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from ptst import __version__
from ptst.core.errors import PtstError


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line ('ptst train: error: ...') with exit code 2."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ptst", description="Pure Tuning, Safe Testing: fine-tune aligned chat models and "
                     "measure what it does to their safety (Lyu et al. 2024).")
    parser.add_argument("--version", action="version", version=f"ptst {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    from ptst.cli.commands import commands

    for _, register in commands.items():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    # deprecation chatter of the libraries underneath is for their developers, not for ptst's users
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and not argv[0].startswith("-"):  # the command, looked up in its registry (did-you-mean)
        from ptst.cli.commands import commands

        try:
            commands.get(argv[0])
        except PtstError as err:
            parser.error(str(err))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        (getattr(args, "subparser", None) or parser).print_help(sys.stderr)
        return 2
    from ptst.templates.registry import template_scope

    try:
        with template_scope():  # user templates a command registers are gone after it
            return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0
    except (PtstError, OSError, sqlite3.DatabaseError, UnicodeDecodeError) as err:
        if os.environ.get("PTST_DEBUG") == "1":
            raise
        message = str(err) if isinstance(err, PtstError) else describe_failure(err, args)
        sys.stderr.write(f"ptst {args.command}: error: {message}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("ptst: interrupted\n")
        return 130


def describe_failure(err: BaseException, args: argparse.Namespace) -> str:
    """The last line of defence: a file-system, database or decoding error as one line naming the path. These
    exceptions do not always carry the path, so the files the command was given are searched for the culprit."""
    if isinstance(err, OSError):
        where = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
        reason = err.strerror or str(err) or type(err).__name__
        return f"{where}: {reason}" if where else reason
    from ptst.store.run_dir import RunDir

    paths = [Path(v) for v in _path_arguments(args)]
    if isinstance(err, UnicodeDecodeError):
        bad = next((p for p in paths if p.is_file() and not _decodes(p)), None)
        return f"{bad or 'an input file'}: not valid UTF-8 text at byte offset {err.start}; save it as UTF-8"
    stores = [RunDir(p).store_path for p in paths if RunDir(p).has_store()]
    stores += [p for p in paths if p.suffix in (".sqlite", ".sqlite3", ".db")] + [p for p in paths if p.is_dir()]
    return f"{stores[0] if stores else 'a database'}: not a readable SQLite database ({err})"


def _path_arguments(args: argparse.Namespace) -> list[str]:
    values = []
    for value in vars(args).values():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, str) and v and "\x00" not in v and Path(v).exists():
                values.append(v)
    return values


def _decodes(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            while f.read(1 << 20):
                pass
        return True
    except UnicodeDecodeError:
        return False


if __name__ == "__main__":
    sys.exit(main())
