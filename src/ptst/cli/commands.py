"""The `ptst` commands: one module per command, `cli/cmd_NAME.py`, whose `register(sub)` adds the command's
subparser and is registered as command NAME by `@command("NAME")`. The registry's plugins are in `ptst --help`'s
order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ptst.core.registry import Registry

Register = Callable[[Any], None]  # adds the command's subparser to argparse's subparsers
commands: Registry[Register] = Registry("command", plugins=[f"ptst.cli.cmd_{name}" for name in (
    "templates", "data", "models", "train", "generate", "score", "run", "merge", "strip", "report", "preflight",
    "audit", "serve", "export")])


def command(name: str) -> Callable[[Register], Register]:
    def wrap(register: Register) -> Register:
        return commands.register(name, register)

    return wrap
