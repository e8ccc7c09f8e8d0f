"""The template registry: the built-in paper templates plus templates that users write in YAML.

A YAML file holds one template mapping or a list under `templates:`; a template may take its system prompt from
a file (`system_file:`, relative to the YAML file):

    templates:
      - name: chat:inoculate
        mode: chat
        system_file: prompts/inoculation.txt
        user: "Question: {input}"
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from ptst.core.errors import PtstError
from ptst.core.io import read_text
from ptst.core.registry import Registry
from ptst.core.validation import describe_validation_error
from ptst.core.yamlfile import read_yaml
from ptst.templates.builtin import BUILTIN_TEMPLATES
from ptst.templates.model import Template

templates: Registry[Template] = Registry("template")
for _t in BUILTIN_TEMPLATES:
    templates.add(_t)
_BUILTIN_NAMES = frozenset(t.name for t in BUILTIN_TEMPLATES)


def get_template(name: str) -> Template:
    """A registered template by name; a path to a YAML file with exactly one template also works."""
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        loaded = load_template_file(name)
        if len(loaded) != 1:
            raise PtstError(f"{name}: holds {len(loaded)} templates; register it with --template-file and pick one")
        return loaded[0]
    return templates.get(name)


def template_names() -> list[str]:
    return templates.names()


def load_template_file(path: str | Path) -> list[Template]:
    """Validate and register every template in a YAML file (for this command: see `template_scope`)."""
    loaded = read_template_file(path)
    for template in loaded:
        templates.register(template.name, template, replace=True)
    return loaded


@contextmanager
def template_scope() -> Iterator[None]:
    """Templates registered inside the block are forgotten after it, so one command (or test, or library call)
    leaves nothing behind for the next."""
    saved = templates.items()
    try:
        yield
    finally:
        templates.clear()
        for name, template in saved:
            templates.register(name, template)


def read_template_file(path: str | Path) -> list[Template]:
    """Validate every template in a YAML file, registering nothing; errors name the file, the entry and the
    field."""
    path = Path(path)
    entries = _read_entries(path)
    loaded = []
    for i, entry in enumerate(entries):
        where = f"{path}: template {i + 1}" + (f" ({entry.get('name')})" if isinstance(entry, dict) else "")
        if not isinstance(entry, dict):
            raise PtstError(f"{where}: expected a mapping with name, mode, system, user")
        entry = _inline_system_file(entry, path, where)
        try:
            template = Template.model_validate(entry)
        except ValidationError as err:
            raise PtstError(describe_validation_error(err, where)) from None
        if template.name in _BUILTIN_NAMES:
            raise PtstError(f"{where}: name {template.name!r} is a built-in template; choose another name")
        loaded.append(template)
    return loaded


def _read_entries(path: Path) -> list:
    doc = read_yaml(path, "template file")
    if isinstance(doc, dict) and "templates" in doc:
        doc = doc["templates"]
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list) or not doc:
        raise PtstError(f"{path}: expected a template mapping or a non-empty list under 'templates:'")
    return doc


def _inline_system_file(entry: dict, path: Path, where: str) -> dict:
    if "system_file" not in entry:
        return entry
    entry = dict(entry)
    if entry.get("system") is not None:
        raise PtstError(f"{where}: give either 'system' or 'system_file', not both")
    system_path = (path.parent / str(entry.pop("system_file"))).resolve()
    if not system_path.is_file():
        raise PtstError(f"{where}: system_file {system_path} not found")
    entry["system"] = read_text(system_path, "system_file", max_bytes=1 << 20).rstrip("\n")
    return entry
