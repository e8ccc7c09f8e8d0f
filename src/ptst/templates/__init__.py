"""Prompt templates: what they are, the paper's built-in ones, user YAML, and the one renderer."""

from ptst.templates.model import Demo, Template
from ptst.templates.registry import get_template, load_template_file, template_names, templates
from ptst.templates.render import Rendered, build_messages, render_example, render_prompt

__all__ = [
    "Demo",
    "Rendered",
    "Template",
    "build_messages",
    "get_template",
    "load_template_file",
    "render_example",
    "render_prompt",
    "template_names",
    "templates",
]
