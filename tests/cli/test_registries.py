"""Every plug-in kind is one `Registry`: its built-in things are there at the first lookup, and a mistyped name is
one line naming the closest registered name, from the library, a study config and the command line alike."""

from __future__ import annotations

import pytest

from ptst.cli.commands import commands
from ptst.core.errors import PtstError
from ptst.data.registry import datasets
from ptst.models.embedded import embedded
from ptst.models.engines import engines
from ptst.score import scorers
from ptst.study.executors import executors
from ptst.templates.registry import templates
from tests.conftest import ROOT, run_cli

SMOKE = ROOT / "configs" / "smoke.yaml"


@pytest.mark.parametrize("registry, typo, meant, builtin", [
    (engines, "llamacp", "llamacpp", {"ptst", "hf", "vllm", "llamacpp"}),
    (executors, "rayy", "ray", {"local", "ray"}),
    (scorers, "gsm8", "gsm8k", {"gsm8k", "refusal-keywords", "rubric", "reference-similarity", "multiple-choice"}),
    (commands, "generat", "generate", {"templates", "data", "models", "train", "generate", "score", "run", "report",
                                        "preflight", "audit", "serve", "export"}),
    (datasets, "advbenc", "advbench", {"advbench", "gsm8k", "builtin:math"}),
    (templates, "chat:lama", "chat:llama", {"chat:llama", "chat:vanilla", "text:alpaca"}),
    (embedded, "embedded:tiny-randon", "embedded:tiny-random", {"embedded:tiny-random"}),
])
def test_every_kind_is_one_registry_with_its_builtins_and_did_you_mean(registry, typo, meant, builtin):
    assert builtin <= set(registry.names())
    with pytest.raises(PtstError) as err:
        registry.get(typo)
    assert str(err.value) == f"unknown {registry.kind} {typo!r} (did you mean {meant!r}?)"
    with pytest.raises(ValueError, match=f"did you mean {meant!r}"):
        registry.validate(typo)
    assert registry.validate(meant) == meant


@pytest.mark.parametrize("key, typo, meant", [("engine", "llamacp", "llamacpp"), ("executor", "rayy", "ray")])
def test_a_study_config_names_the_field_and_the_closest_name(tmp_path, key, typo, meant):
    config = tmp_path / "study.yaml"
    config.write_text(SMOKE.read_text() + f"\n{key}: {typo}\n")
    r = run_cli("run", str(config), "--out", str(tmp_path / "run"), "--dry-run")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (f"ptst run: error: {config}: field {key!r}: unknown {key} {typo!r} (did you mean "
                        f"{meant!r}?)\n")
    assert not (tmp_path / "run").exists()


def test_run_executor_flag_suggests_the_closest_executor(tmp_path):
    r = run_cli("run", str(SMOKE), "--out", str(tmp_path / "run"), "--executor", "rayy", "--dry-run")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "ptst run: error: unknown executor 'rayy' (did you mean 'ray'?)\n"


def test_a_mistyped_command_names_the_closest_command():
    r = run_cli("generat", "--model", "embedded:tiny-random")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "ptst: error: unknown command 'generat' (did you mean 'generate'?)\n"
