"""The Template model: a mode, an optional system prompt, a user format with one `{input}` slot."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ptst.core.hashing import content_hash
from ptst.core.paths import name_problem

INPUT_SLOT = "{input}"


class Demo(BaseModel):
    """One demonstration turn shown before the query (in-context defenses such as ICD)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    input: str = Field(description="the demonstration's raw input; wrapped by the user format like the query")
    output: str = Field(description="the assistant's reply to the demonstration")


class Template(BaseModel):
    """A prompt template. In chat mode `system: null` means the model's own default system prompt (Qwen2.5 and
    SmolLM2 insert one), `system: ""` an explicit empty system message. In text mode the system prompt, if any,
    is a plain preamble followed by a blank line."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(description="registered name, e.g. chat:llama")
    mode: Literal["chat", "text"] = Field(description="chat: through chat markup; text: the raw string")
    system: str | None = Field(default=None, description="system prompt; null = none / the model's default")
    user: str = Field(default=INPUT_SLOT, description="user text format with exactly one {input} slot")
    demos: tuple[Demo, ...] = Field(default=(), description="demonstration turns before the query")
    reminder: str | None = Field(
        default=None, description="test-time reminder appended to the user text after a blank line"
    )
    description: str = Field(default="", description="one line shown by `ptst templates list`")

    @field_validator("user")
    @classmethod
    def _one_input_slot(cls, v: str) -> str:
        n = v.count(INPUT_SLOT)
        if n != 1:
            raise ValueError(f"user format must contain exactly one {INPUT_SLOT} slot, found {n}")
        return v

    @field_validator("name")
    @classmethod
    def _name_shape(cls, v: str) -> str:
        if not v or v != v.strip() or any(c.isspace() for c in v):
            raise ValueError(f"template name {v!r} must be non-empty with no spaces")
        if name_problem(v):  # a training template names the run's training directory
            raise ValueError(name_problem(v))
        return v

    def format_user(self, text: str) -> str:
        """The query's user text: the format with `{input}` replaced (other braces stay literal), plus reminder."""
        out = self.user.replace(INPUT_SLOT, text)
        if self.reminder:
            out = f"{out}\n\n{self.reminder}"
        return out

    def content(self) -> dict:
        """What changes a rendering (not the name or description): the basis of the template's identity."""
        return self.model_dump(include={"mode", "system", "user", "demos", "reminder"})

    @property
    def identity(self) -> str:
        """Content hash of the template's text."""
        return content_hash(self.content())
