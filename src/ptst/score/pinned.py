"""Instruments published as Python literals in someone else's code, taken byte-exact: Qi et al. 2023's GPT-4 judge
prompt and their refusal-prefix list (LLM-Tuning-Safety/LLMs-Finetuning-Safety, MIT licence, pinned commit).

Each is fetched once from its pinned origin, the literal read with `ast` (the file is never executed), its sha256
checked, and the checked copy kept in `$PTST_HOME/pinned/`. Offline, point the named environment variable at a
local copy: either the extracted literal (`judge_template.txt`, `refusal_prefixes.json`) or the original `.py`.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ptst.core.errors import PtstError
from ptst.core.io import atomic_write_text
from ptst.core.paths import ptst_home

QI2023_COMMIT = "2be2fa01775fdf8bfc786d69fc0d358f0b3df513"
QI2023_ORIGIN = f"https://raw.githubusercontent.com/LLM-Tuning-Safety/LLMs-Finetuning-Safety/{QI2023_COMMIT}/"


@dataclass(frozen=True)
class PinnedLiteral:
    """One literal: where it lives upstream, the variable that holds it, and the sha256 of its canonical text
    (a string as UTF-8; a list as `json.dumps(value, indent=1, ensure_ascii=False)` plus a newline)."""

    name: str
    path: str  # inside the pinned repository
    variable: str
    sha256: str
    env: str  # a local copy, for offline use
    kind: Literal["text", "list"]

    @property
    def url(self) -> str:
        return QI2023_ORIGIN + self.path

    @property
    def cache_file(self) -> Path:
        return ptst_home() / "pinned" / f"{self.name}.{'txt' if self.kind == 'text' else 'json'}"


QI2023_JUDGE = PinnedLiteral(
    "qi2023-judge-template", "llama2/safety_evaluation/eval_utils/openai_gpt4_judge.py", "judge_template",
    "c021e66075618b59899adbdb8139b8c9cd896e95ab3f370d9c41b64eaca3b59e", "PTST_QI2023_JUDGE", "text")
QI2023_PREFIXES = PinnedLiteral(
    "qi2023-refusal-prefixes", "llama2/safety_evaluation/keyword_eval.py", "_test_prefixes",
    "ae3114395bd68c26daaad76c8bd2db24c56cae811ffac2fe4c0e0e9dd5b78837", "PTST_QI2023_PREFIXES", "list")


def canonical_text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=1, ensure_ascii=False) + "\n"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def literal_from_source(source: str, variable: str, where: str) -> str | list[str]:
    """The value assigned to `variable` anywhere in Python `source`, read with `ast` (nothing is executed)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise PtstError(f"{where}: not valid Python ({err.msg}, line {err.lineno})") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == variable for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                break
    raise PtstError(f"{where}: no literal assignment to {variable!r}")


def load_pinned(pin: PinnedLiteral, *, local: str | Path | None = None, fetch: bool = True,
                origin: str | None = None) -> str | list[str]:
    """The checked literal: from `local` (or the `pin.env` path), else the cache, else its pinned origin."""
    local = local or os.environ.get(pin.env)
    if local:
        return _checked(pin, _read_local(pin, Path(local)), str(local))
    if pin.cache_file.is_file():
        try:
            return _checked(pin, _read_local(pin, pin.cache_file), str(pin.cache_file))
        except PtstError:
            pass  # a damaged cache copy is ptst's own file: fetch and check it again
    if not fetch:
        raise PtstError(f"{pin.name}: not cached and fetching is off; set {pin.env}=PATH to a local copy")
    url = (origin or QI2023_ORIGIN) + pin.path
    value = _checked(pin, literal_from_source(_download(pin, url), pin.variable, url), url)
    atomic_write_text(pin.cache_file, canonical_text(value))
    return value


def _read_local(pin: PinnedLiteral, path: Path) -> str | list[str]:
    if not path.is_file():
        raise PtstError(f"{pin.env}={path}: file not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise PtstError(f"{path}: not UTF-8 text") from None
    if path.suffix == ".py":
        return literal_from_source(text, pin.variable, str(path))
    if pin.kind == "text":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise PtstError(f"{path}: not a JSON list ({err.msg}, line {err.lineno})") from None


def _checked(pin: PinnedLiteral, value, where: str) -> str | list[str]:
    wanted = str if pin.kind == "text" else list
    if not isinstance(value, wanted) or (pin.kind == "list" and not all(isinstance(v, str) for v in value)):
        raise PtstError(f"{where}: {pin.variable} is not a {'string' if pin.kind == 'text' else 'list of strings'}")
    digest = sha256_text(canonical_text(value))
    if digest != pin.sha256:
        raise PtstError(f"{where}: {pin.name} has sha256 {digest[:12]}..., expected {pin.sha256[:12]}... "
                        f"(not the pinned text of commit {QI2023_COMMIT[:7]})")
    return value


def _download(pin: PinnedLiteral, url: str) -> str:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.read().decode("utf-8")
    except Exception as err:  # offline, DNS, HTTP errors: all end the same way for the user
        reason = str(getattr(err, "reason", "") or err).strip()[:120] or type(err).__name__
        raise PtstError(f"{pin.name}: cannot fetch {url} ({reason}); offline, set {pin.env}=PATH to a local copy "
                        f"(the extracted literal or the original .py)") from None
