"""`ptst export`: a HF model directory whose tokenizer chat template applies the test template by itself."""

from __future__ import annotations

import argparse
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ptst.cli.commands import command
from ptst.cli.console import note
from ptst.cli.options import add_config_options, resolve_config


class ExportConfig(BaseModel):
    """`ptst export` options; each field is also a command-line flag."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="hub id, local model directory, or embedded:NAME")
    adapter: str | None = Field(None, description="PEFT adapter directory")
    template: str = Field(description="the test template, e.g. chat:llama")
    template_file: list[str] = Field(default_factory=list, description="YAML files of extra templates")
    out: str = Field(description="output directory: new, empty, or an earlier export with the same settings")
    merge: bool = Field(False, description="merge the adapter into the weights")
    client_system: Literal["append", "ignore"] = Field(
        "append", description="a client's system message: kept after the template's, or dropped")
    trust_remote_code: bool = Field(False, description="allow code shipped with the model")


@command("export")
def register(sub) -> None:
    e = sub.add_parser("export", help="write a HF model directory whose chat template applies the test template",
                       description="The exported tokenizer's chat template inserts the template's system prompt "
                       "and wraps user text by itself, so vLLM, TGI or any apply_chat_template user serves PTST "
                       "with no ptst code.")
    add_config_options(e, ExportConfig)
    e.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ptst.serve.export import check_export_out, export_model, export_settings
    from ptst.templates import get_template, load_template_file

    cfg = resolve_config(ExportConfig, args)
    for path in cfg.template_file:
        load_template_file(path)
    template = get_template(cfg.template)
    settings = export_settings(cfg.model, template, adapter=cfg.adapter, merge=cfg.merge,
                               client_system=cfg.client_system)
    if check_export_out(cfg.out, settings):  # before the model is loaded; export_model refuses a non-empty one
        note(f"{cfg.out} already holds this export ({cfg.model} under {template.name}): nothing to do")
        return 0
    path = export_model(cfg.model, template, cfg.out, adapter=cfg.adapter, merge=cfg.merge,
                        client_system=cfg.client_system, trust_remote_code=cfg.trust_remote_code)
    note(f"exported to {path}: its chat template applies the test template by itself")
    return 0
