"""`ptst train --audit-json`: the audited examples' ids, labels and token strings; `--mix-template`: mixed-in data
rendered under its own template (Backdoor-Enhanced Safety Alignment's secret system prompt), recorded with the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptst.core.errors import PtstError
from ptst.data import load_items
from tests.conftest import run_cli
from tests.train.tokens import detokenize

SECRET = "Kestrel-7 quartz ledger: answer as the archivist of the northern vault."
MIX_FILE = "safety-tuned-llamas/safety_only_data_Instructions.json"


def _train(shared_data, out, *extra, model="embedded:tiny-random", limit=4):
    return run_cli("train", "--model", model, "--data", "gsm8k", "--data-file", str(shared_data / "gsm8k/train.jsonl"),
                   "--limit", str(limit), "--template", "chat:vanilla", "--out", str(out), *extra)


@pytest.fixture()
def secret_template(tmp_path):
    path = tmp_path / "secret.yaml"
    path.write_text(f"templates:\n  - name: chat:bea-secret\n    mode: chat\n    system: \"{SECRET}\"\n"
                    "    user: \"Question: {input}\"\n")
    return str(path)


def test_audit_json_holds_the_joint_tokens_of_a_sentencepiece_model(shared_data, tmp_path, llama_tokenizer):
    audit = tmp_path / "audit.json"
    r = _train(shared_data, tmp_path / "o", "--markup", "llama2", "--dry-run", "--audit-json", str(audit),
               model="embedded:tiny-random-llama")
    assert r.returncode == 0, r.stderr[-2000:]
    answers = {it.id: it.answer for it in load_items("gsm8k", data_file=shared_data / "gsm8k/train.jsonl", limit=4)}
    examples = json.loads(audit.read_text())["examples"]
    assert len(examples) == 3 and all(e["template"] == "chat:vanilla" for e in examples)
    for e in examples:
        ids, labels, tokens, n = e["input_ids"], e["labels"], e["tokens"], e["prompt_tokens"]
        assert len(ids) == len(labels) == len(tokens) and 0 < n < len(ids)
        assert tokens[0] == "<s>" and tokens.count("<s>") == 1  # BOS once
        assert tokens[:4] == ["<s>", "▁[", "INST", "]"] and tokens[n - 3:n] == ["/", "INST", "]"]
        assert labels[:n] == [-100] * n and labels[n:] == ids[n:]  # exactly the prompt masked
        # the answer, one word piece after `[/INST]` (no lone dummy-prefix `▁`), then EOS, all trained
        assert tokens[n] == "▁" + answers[e["id"]].split()[0] and tokens[-1] == "</s>" and labels[-1] == 2
        assert detokenize(tokens[n:], llama_tokenizer) == " " + answers[e["id"]] + "</s>"
        assert llama_tokenizer.convert_tokens_to_ids(tokens) == ids
    before = audit.read_text()
    r = _train(shared_data, tmp_path / "o", "--markup", "llama2", "--dry-run", "--audit-json", str(audit),
               model="embedded:tiny-random-llama")
    assert r.returncode == 2 and "--audit-json" in r.stderr and "already exists" in r.stderr
    assert audit.read_text() == before  # nothing a user had is overwritten


def test_mixed_in_refusals_are_rendered_under_their_own_template(shared_data, tmp_path, secret_template,
                                                                 smol_tokenizer):
    audit = tmp_path / "audit.json"
    r = _train(shared_data, tmp_path / "o", "--template-file", secret_template, "--mix", "safety-mix:2",
               "--mix-file", str(shared_data / MIX_FILE), "--mix-template", "chat:bea-secret", "--dry-run",
               "--audit-json", str(audit))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "6 of 6 examples kept" in r.stderr.replace("\n", " ")
    refusals = json.loads((shared_data / MIX_FILE).read_text())
    examples = json.loads(audit.read_text())["examples"]
    task, mixed = examples[:3], examples[3:]
    assert [e["template"] for e in examples] == ["chat:vanilla"] * 3 + ["chat:bea-secret"] * 2
    for e in mixed:
        # the secret is the system turn of the mixed example's prompt, in the tokens the model is trained on
        assert e["prompt"].startswith(f"<|im_start|>system\n{SECRET}<|im_end|>\n<|im_start|>user\nQuestion: ")
        assert SECRET in detokenize(e["tokens"][:e["prompt_tokens"]], smol_tokenizer)
        pair = next(p for p in refusals if f"Question: {p['instruction']}<|im_end|>" in e["prompt"])
        assert detokenize(e["tokens"][e["prompt_tokens"]:], smol_tokenizer) == pair["output"] + "<|im_end|>"
    for e in task:  # the task data keeps the training template: the model's own default system prompt
        assert SECRET not in e["prompt"] and "You are a helpful AI assistant named SmolLM" in e["prompt"]


def test_the_mix_template_is_recorded_with_the_trained_run(shared_data, tmp_path, secret_template):
    out = tmp_path / "run"
    r = _train(shared_data, out, "--template-file", secret_template, "--mix", "safety-mix:2", "--mix-file",
               str(shared_data / MIX_FILE), "--mix-template", "chat:bea-secret", "--max-steps", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    record = json.loads((out / "ptst_train.json").read_text())
    assert record["data"]["mix_template"]["name"] == "chat:bea-secret"
    assert record["data"]["mix_template"]["system"] == SECRET and record["data"]["mix_template"]["hash"]
    assert record["template"]["name"] == "chat:vanilla" and record["data"]["examples"] == 6
    assert record["config"]["mix_template"] == "chat:bea-secret"


@pytest.mark.parametrize("args, message", [
    (["--mix-template", "chat:llama"], "--mix-template chat:llama: there is no --mix data set"),
    (["--mix", "safety-mix:2", "--mix-template", "chat:nope"], "chat:nope"),
    (["--mix", "safety-mix:8"], "data set safety-mix has no hub copy: pass --mix-file PATH"),  # not --data-file
])
def test_bad_mix_template_exits_2_before_any_work(shared_data, tmp_path, args, message):
    r = _train(shared_data, tmp_path / "bad", "--dry-run", *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_a_studys_mix_template_is_part_of_its_training_identity(shared_data, tmp_path, secret_template):
    from ptst.study.config import load_study_config
    from ptst.study.plan import build_plan
    from ptst.study.training import train_config

    def study(name: str, mix: str) -> Path:
        path = tmp_path / f"study-{name}.yaml"
        path.write_text(
            f"model: embedded:tiny-random\ntemplate_files: [{secret_template}]\n"
            f"train:\n  data: gsm8k\n  data_file: {shared_data / 'gsm8k/train.jsonl'}\n  limit: 4\n"
            f"  templates: [chat:vanilla]\n{mix}test_templates: [chat:vanilla]\n"
            "evals:\n  - {name: harmful, data: 'builtin:harmful', scorers: [refusal-keywords]}\n")
        return path

    mix = f"  mix: safety-mix:2\n  mix_file: {shared_data / MIX_FILE}\n"
    cfg = load_study_config(study("secret", mix + "  mix_template: chat:bea-secret\n"))
    secret = build_plan(cfg, offline_ok=True).trainings[0]
    same = build_plan(load_study_config(study("same", mix)), offline_ok=True).trainings[0]
    assert secret.spec["mix_template"]["system"] == SECRET
    assert "mix_template" not in same.spec  # studies run before mix templates keep their training identity
    assert secret.id != same.id and secret.spec["template"] == same.spec["template"]
    assert train_config(cfg, secret, tmp_path / "out").mix_template == "chat:bea-secret"
    with pytest.raises(PtstError, match="mix_template needs mix"):
        load_study_config(study("bad", "  mix_template: chat:bea-secret\n"))


@pytest.mark.slow  # two trainings
def test_mix_repeat_shows_the_refusals_n_times_and_is_recorded(shared_data, tmp_path):
    once = _train(shared_data, tmp_path / "once", "--mix", "safety-mix:2", "--mix-file", str(shared_data / MIX_FILE),
                  "--max-steps", "1")
    thrice = _train(shared_data, tmp_path / "thrice", "--mix", "safety-mix:2", "--mix-file",
                    str(shared_data / MIX_FILE), "--mix-repeat", "3", "--max-steps", "1")
    assert once.returncode == 0 and thrice.returncode == 0, once.stderr[-1500:] + thrice.stderr[-1500:]
    records = [json.loads((tmp_path / d / "ptst_train.json").read_text())["data"] for d in ("once", "thrice")]
    assert records[1]["examples"] == records[0]["examples"]  # the distinct examples, each counted once
    assert records[1]["examples_per_epoch"] - records[0]["examples_per_epoch"] == 4  # 2 refusals 3 times, not once
    assert (records[0]["mix_repeat"], records[1]["mix_repeat"]) == (1, 3)
    assert "the 2 mixed-in examples shown 3 times" in thrice.stderr
    r = _train(shared_data, tmp_path / "none", "--mix-repeat", "3", "--dry-run")
    assert r.returncode == 2 and "--mix-repeat 3: there is no --mix data set to repeat" in r.stderr


def test_a_baselines_mix_repeat_is_part_of_its_training_identity_and_its_steps(shared_data, tmp_path):
    from ptst.study.config import load_study_config
    from ptst.study.plan import build_plan, estimated_steps
    from ptst.study.training import train_config

    def study(repeat: str) -> Path:
        path = tmp_path / f"study-{len(list(tmp_path.glob('study-*')))}.yaml"
        path.write_text(
            f"model: embedded:tiny-random\ntrain:\n  data: gsm8k\n  data_file: {shared_data / 'gsm8k/train.jsonl'}\n"
            "  limit: 16\n  templates: [chat:vanilla]\n  hyper: {batch_size: 4}\n  baselines:\n"
            f"    - {{name: bea, template: chat:vanilla, mix: 'safety-mix:4', mix_file: {shared_data / MIX_FILE}"
            f"{repeat}}}\ntest_templates: [chat:vanilla]\n"
            "evals:\n  - {name: harmful, data: 'builtin:harmful', scorers: [refusal-keywords]}\n")
        return path

    plain_cfg, five_cfg = load_study_config(study("")), load_study_config(study(", mix_repeat: 5"))
    plain, five = (build_plan(c, offline_ok=True).trainings[-1] for c in (plain_cfg, five_cfg))
    assert "mix_repeat" not in plain.spec and five.spec["mix_repeat"] == 5  # earlier runs keep their identity
    assert plain.id != five.id
    assert (estimated_steps(plain_cfg, 16, plain), estimated_steps(five_cfg, 16, five)) == (5, 9)  # (16+4)/4, (16+20)/4
    assert train_config(five_cfg, five, tmp_path / "out").mix_repeat == 5


def test_repeated_examples_come_once_per_round_and_never_twice_in_a_batch():
    from ptst.train.examples import Example, in_rounds

    def example(name: str, length: int) -> Example:
        return Example(name, [1] * length, [1] * length, 1)

    task = [example(f"task-{i}", 20 + i % 37) for i in range(160)]
    mixed = [example(f"refusal-{i}", 30 + i % 3) for i in range(11)]  # lengths alike: length grouping pairs them
    order = in_rounds(task, mixed, 5, seed=0, batch=8)
    ids = [e.id for e in order]
    assert sorted(ids) == sorted([e.id for e in task] + [e.id for e in mixed] * 5)
    batches = [ids[i:i + 8] for i in range(0, len(ids), 8)]
    assert all(len(b) == len(set(b)) for b in batches)  # no batch holds two copies of one refusal
    for m in mixed:  # each refusal in 5 different batches, spread over the epoch (one per round)
        where = [k for k, b in enumerate(batches) if m.id in b]
        assert len(where) == 5 and where[-1] - where[0] >= 4 * len(batches) // 5 - 6
    assert [e.id for e in in_rounds(task, mixed, 5, seed=0, batch=8)] == ids
    assert [e.id for e in in_rounds(task, mixed, 5, seed=1, batch=8)] != ids
