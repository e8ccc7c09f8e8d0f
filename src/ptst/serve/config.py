"""`ptst serve` options (each field is also a command-line flag) and the settings the running app uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, Field

from ptst.models.options import RenderOptions, RuntimeOptions
from ptst.templates import Template

ClientSystem = Literal["append", "ignore", "reject"]


class ServeConfig(RuntimeOptions, RenderOptions):
    """What to serve, where, and the limits that keep one client from starving the others."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="hub id, local model directory, or embedded:NAME")
    adapter: str | None = Field(None, description="PEFT adapter directory")
    template: str = Field(description="the test template every request is rendered through, e.g. chat:llama")
    template_file: list[str] = Field(default_factory=list, description="YAML files of extra templates")
    host: str = Field("127.0.0.1", description="address to bind (127.0.0.1: this machine only)")
    port: int = Field(8000, ge=1, le=65535, description="port to listen on")
    served_model_name: str | None = Field(None, description="model id clients use (default: --model)")
    client_system: ClientSystem = Field("append", description="a client's system message: kept after the "
                                        "template's (append), dropped (ignore), or refused with a 400 (reject)")
    max_tokens: int = Field(512, ge=1, description="default and ceiling of a request's max_tokens")
    max_prompt_tokens: int | None = Field(None, ge=1, description="longest prompt accepted, at most the model's "
                                          "context (default: the model's context)")
    max_batch: int = Field(8, ge=1, le=1024, description="requests decoded together")
    max_queue: int = Field(64, ge=1, description="requests waiting for the model before new ones get a 503")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="largest request body accepted, in bytes")
    api_key_env: str | None = Field(None, description="require 'Authorization: Bearer KEY', KEY read from this "
                                    "environment variable (never logged)")
    log_content: bool = Field(False, description="log prompts (text and token ids) and responses")
    trust_remote_code: bool = Field(False, description="allow code shipped with the model")


@dataclass
class ServeOptions:
    """What the running app needs: the template, names, and limits (`context` is the model's, once loaded)."""

    template: Template
    model_name: str
    adapter: str | None = None
    markup: str = "auto"
    system_policy: str = "auto"
    client_system: str = "append"
    max_new_tokens: int = 512  # default and ceiling for max_tokens
    max_prompt_tokens: int | None = None
    max_body_bytes: int = 1 << 20
    api_key_env: str | None = None
    log_content: bool = False
    context: int | None = None  # the model's context length in tokens, when known

    @property
    def prompt_limit(self) -> int | None:
        limits = [n for n in (self.max_prompt_tokens, self.context) if n is not None]
        return min(limits) if limits else None
