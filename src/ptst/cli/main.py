"""`ptst`: the command group. Exit codes: 0 success, 2 bad input (one line, no traceback), 1 anything else."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ptst import __version__
from ptst.core.errors import PtstError

COMMANDS = ("templates", "data", "models", "train", "generate", "score", "run", "preflight", "audit", "serve")


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
    import importlib

    for name in COMMANDS:
        importlib.import_module(f"ptst.cli.cmd_{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    # deprecation chatter of the libraries underneath is for their developers, not for ptst's users
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        (getattr(args, "subparser", None) or parser).print_help(sys.stderr)
        return 2
    from ptst.templates.registry import template_scope

    try:
        with template_scope():  # user templates a command registers are gone after it
            return int(args.func(args) or 0)
    except PtstError as err:
        sys.stderr.write(f"ptst {args.command}: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("ptst: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
