"""Which templates carry a safety system prompt (PTST: train without one, test with one)."""

from __future__ import annotations

import re

from ptst.templates.builtin import SAFETY_TEMPLATES
from ptst.templates.model import Template

_SAFETY_WORDS = re.compile(r"\b(safe|safely|harmful|unethical|ethical|dangerous|illegal|responsible)\b", re.I)


def is_safety_template(template: Template) -> bool:
    return template.name in SAFETY_TEMPLATES or bool(template.system and _SAFETY_WORDS.search(template.system))
