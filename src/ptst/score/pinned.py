"""Instruments published in someone else's repository, taken byte-exact at a pinned commit: Qi et al. 2023's GPT-4
judge prompt and refusal-prefix list (Python literals in LLM-Tuning-Safety/LLMs-Finetuning-Safety, MIT), and the
StrongREJECT rubric prompts (`ptst.score.strongreject`: a text file, and two values of a JSON file).

Each is fetched once from its pinned origin (a Python literal read with `ast`, the file never executed; a JSON
value read with `json`), its sha256 checked, and the checked copy kept in `$PTST_HOME/pinned/`. Offline, point the
named environment variable at a local copy: the extracted text, or the original file.
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

QI2023_REPO = "LLM-Tuning-Safety/LLMs-Finetuning-Safety"
QI2023_COMMIT = "2be2fa01775fdf8bfc786d69fc0d358f0b3df513"
QI2023_ORIGIN = f"https://raw.githubusercontent.com/{QI2023_REPO}/{QI2023_COMMIT}/"

Kind = Literal["text", "list", "file", "json-text"]


@dataclass(frozen=True)
class PinnedLiteral:
    """One instrument: where it lives upstream, what holds it, and the sha256 of its canonical text (a string as
    UTF-8; a list as `json.dumps(value, indent=1, ensure_ascii=False)` plus a newline). Kinds: `text` / `list`, a
    Python literal assigned to `variable`; `file`, a whole text file; `json-text`, the string value of key
    `variable` of a JSON object."""

    name: str
    path: str  # inside the pinned repository
    variable: str
    sha256: str
    env: str  # a local copy, for offline use
    kind: Kind
    repo: str = QI2023_REPO
    commit: str = QI2023_COMMIT

    @property
    def origin(self) -> str:
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/"

    @property
    def url(self) -> str:
        return self.origin + self.path

    @property
    def cache_file(self) -> Path:
        return ptst_home() / "pinned" / f"{self.name}.{'json' if self.kind == 'list' else 'txt'}"


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
    url = (origin or pin.origin) + pin.path
    value = _checked(pin, _from_upstream(pin, _download(pin, url), url), url)
    atomic_write_text(pin.cache_file, canonical_text(value))
    return value


def _from_upstream(pin: PinnedLiteral, body: str, where: str) -> str | list[str]:
    """The instrument out of its upstream file's text."""
    if pin.kind == "file":
        return body
    if pin.kind == "json-text":
        return _json_value(pin, body, where)
    return literal_from_source(body, pin.variable, where)


def _json_value(pin: PinnedLiteral, body: str, where: str):
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as err:
        raise PtstError(f"{where}: not JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(doc, dict) or pin.variable not in doc:
        raise PtstError(f"{where}: no key {pin.variable!r}")
    return doc[pin.variable]


def _read_local(pin: PinnedLiteral, path: Path) -> str | list[str]:
    if not path.is_file():
        raise PtstError(f"{pin.env}={path}: file not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise PtstError(f"{path}: not UTF-8 text") from None
    if path.suffix == ".py" and pin.kind in ("text", "list"):
        return literal_from_source(text, pin.variable, str(path))
    if pin.kind == "json-text" and path.suffix == ".json":
        return _json_value(pin, text, str(path))
    if pin.kind != "list":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise PtstError(f"{path}: not a JSON list ({err.msg}, line {err.lineno})") from None


def _checked(pin: PinnedLiteral, value, where: str) -> str | list[str]:
    wanted = list if pin.kind == "list" else str
    if not isinstance(value, wanted) or (pin.kind == "list" and not all(isinstance(v, str) for v in value)):
        raise PtstError(f"{where}: {pin.variable or pin.name} is not a "
                        f"{'list of strings' if pin.kind == 'list' else 'string'}")
    digest = sha256_text(canonical_text(value))
    if digest != pin.sha256:
        raise PtstError(f"{where}: {pin.name} has sha256 {digest[:12]}..., expected {pin.sha256[:12]}... "
                        f"(not the pinned text of {pin.repo} at commit {pin.commit[:7]})")
    return value


def _download(pin: PinnedLiteral, url: str) -> str:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.read().decode("utf-8")
    except Exception as err:  # offline, DNS, HTTP errors: all end the same way for the user
        reason = str(getattr(err, "reason", "") or err).strip()[:120] or type(err).__name__
        raise PtstError(f"{pin.name}: cannot fetch {url} ({reason}); offline, set {pin.env}=PATH to a local copy "
                        f"(the extracted text or the original file)") from None
