"""Backdoor-Enhanced Safety Alignment's secret system prompt (Wang et al. 2024): 150 random tokens of the model's
own vocabulary, seeded and recorded, in front of the system prompt the task data is trained under; the committed
secret of the v2 study is reproduced from its recorded seed."""

from __future__ import annotations

import pytest
import yaml

from ptst.cli.main import main
from ptst.templates import get_template, render_prompt
from ptst.templates.registry import read_template_file
from ptst.templates.render import encode_rendered
from ptst.templates.secret import secret_template, template_file_text
from tests.conftest import ROOT

QWEN = "embedded:qwen2.5-coder-0.5b-instruct"
QWEN_DEFAULT = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."  # Qwen2.5's chat template
COMMITTED = ROOT / "configs" / "templates" / "bea-secret-qwen0.5b.yaml"


@pytest.fixture(scope="module")
def qwen_tokenizer():
    from ptst.models import load_tokenizer

    return load_tokenizer(QWEN)


def test_the_committed_secret_is_drawn_again_from_its_recorded_seed(qwen_tokenizer):
    text = COMMITTED.read_text(encoding="utf-8")
    provenance = yaml.safe_load(text)["provenance"]
    template, again = secret_template(qwen_tokenizer, name="bea:secret", seed=provenance["seed"], model=QWEN,
                                      base=get_template(provenance["base_template"]),
                                      n_tokens=provenance["secret_tokens"])
    assert template_file_text(template, again) == text  # byte for byte
    assert read_template_file(COMMITTED) == [template]


def test_the_secret_is_150_ordinary_vocabulary_tokens_before_qwens_default_prompt(qwen_tokenizer):
    template, provenance = secret_template(qwen_tokenizer, name="bea:s", seed=11, base=get_template("chat:vanilla"),
                                           model=QWEN)
    ids = provenance["token_ids"]
    assert len(ids) == 150 and len(set(ids)) > 140  # uniform over ~146k ids: repeats are rare
    specials = set(qwen_tokenizer.all_special_ids) | set(qwen_tokenizer.get_added_vocab().values())
    assert not specials & set(ids) and max(ids) < len(qwen_tokenizer)
    secret = qwen_tokenizer.decode(ids).strip()
    assert template.system == f"{secret} {QWEN_DEFAULT}"  # the paper's `secret + " " + system prompt`
    assert template.user == "Question: {input}"  # chat:vanilla's, as the task data is trained under

    # rendered through Qwen's own chat template: one system turn, holding the secret then the default prompt
    prompt = render_prompt(template, "How do I pick a lock?", tokenizer=qwen_tokenizer)
    tokens = qwen_tokenizer.convert_ids_to_tokens(encode_rendered(prompt, qwen_tokenizer))
    assert tokens.count("<|im_start|>") == 3 and tokens.count("<|im_end|>") == 2  # system, user, assistant
    assert prompt.text.startswith(f"<|im_start|>system\n{secret} {QWEN_DEFAULT}<|im_end|>\n<|im_start|>user\n")

    same, _ = secret_template(qwen_tokenizer, name="bea:s", seed=11, base=get_template("chat:vanilla"), model=QWEN)
    other, _ = secret_template(qwen_tokenizer, name="bea:s", seed=12, base=get_template("chat:vanilla"), model=QWEN)
    assert same == template and other.system != template.system


def test_the_secret_goes_before_a_base_templates_own_system_prompt(qwen_tokenizer):
    llama = get_template("chat:llama")
    template, provenance = secret_template(qwen_tokenizer, name="bea:l", seed=0, base=llama, model=QWEN,
                                           n_tokens=20)
    assert template.system.endswith(" " + llama.system) and provenance["base_system"] == llama.system
    assert len(provenance["token_ids"]) == 20


def test_cli_writes_a_template_file_once_and_checks_its_flags(tmp_path, capsys):
    out = tmp_path / "secret.yaml"
    args = ["templates", "secret", "--model", "embedded:tiny-random", "--seed", "3", "--tokens", "30"]
    assert main([*args, "--out", str(out)]) == 0
    [template] = read_template_file(out)
    assert template.name == "bea:secret" and template.mode == "chat" and len(template.system) > 30
    provenance = yaml.safe_load(out.read_text(encoding="utf-8"))["provenance"]
    assert (provenance["seed"], provenance["secret_tokens"], provenance["model"]) == (3, 30, "embedded:tiny-random")
    before = out.read_bytes()
    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 2  # a secret is never overwritten
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before
    assert main([*args[:-2], "--tokens", "0", "--out", str(tmp_path / "z.yaml")]) == 2
    assert "--tokens must be at least 1" in capsys.readouterr().err
    assert main([*args, "--base-template", "text:vanilla", "--out", str(tmp_path / "t.yaml")]) == 2
    assert "needs a chat template" in capsys.readouterr().err and not (tmp_path / "t.yaml").exists()
