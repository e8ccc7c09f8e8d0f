"""Command-line options built from pydantic config models, so every config field is a flag whose help is the
field's description, and `--config FILE.yaml` gives base values that flags override."""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from ptst.core.errors import PtstError
from ptst.core.validation import validate_record
from ptst.core.yamlfile import read_yaml


def add_config_options(parser: argparse.ArgumentParser, model: type[BaseModel], *, skip: tuple[str, ...] = ()):
    """One flag per field (`max_new_tokens` -> `--max-new-tokens`), plus `--config`. Flags a user does not give
    stay absent, so YAML values are not overwritten by defaults."""
    parser.add_argument("--config", metavar="FILE.yaml", help="read options from a YAML file; flags override it")
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        flags = [flag_name(name, field), *extra.get("aliases", ())]
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        shown = " (required)" if field.is_required() else "" if default in (None, (), []) else f" (default: {default})"
        text = f"{field.description or ''}{shown}".replace("%", "%%")  # argparse formats help with %
        kwargs: dict = {"dest": name, "default": argparse.SUPPRESS, "help": text}
        ann = _strip_optional(field.annotation)
        if ann is bool:  # a field named no_X is the flag --no-X alone
            kwargs["action"] = "store_true" if name.startswith("no_") else argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = extra.get("metavar", name.upper())
            if typing.get_origin(ann) is typing.Literal:
                kwargs["choices"] = list(typing.get_args(ann))
                kwargs.pop("metavar")
            elif typing.get_origin(ann) in (list, tuple):
                kwargs["type"] = _comma_list
        parser.add_argument(*flags, **kwargs)


def resolve_config(model: type[BaseModel], args: argparse.Namespace, **fixed) -> BaseModel:
    """Model defaults < the YAML file < flags < `fixed`; errors name the field and where it came from."""
    values: dict = {}
    where = "command line"
    if getattr(args, "config", None):
        values.update(read_yaml_mapping(args.config))
        where = f"{args.config} or the command line"
    values.update({k: getattr(args, k) for k in model.model_fields if hasattr(args, k)})
    values.update(fixed)
    flags = {name: flag_name(name, field) for name, field in model.model_fields.items()}
    return validate_record(model, values, where, flags=flags)


def flag_name(name: str, field) -> str:
    """A field's flag: `max_new_tokens` -> `--max-new-tokens`, unless the field names its own (`flag`)."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return extra.get("flag", f"--{name.replace('_', '-')}")


def read_yaml_mapping(path: str | Path) -> dict:
    doc = read_yaml(path, "config file")
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise PtstError(f"{path}: expected a mapping of option: value")
    return {str(k).replace("-", "_"): v for k, v in doc.items()}


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _strip_optional(ann):
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return ann
