"""`ptst train` end to end on the tiny model: the loss falls, the adapter loads with plain peft, resume works."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import run_cli

GSM8K_ROWS = 32


def _train(shared_data, out, *extra):
    return run_cli("train", "--model", "embedded:tiny-random", "--data", "gsm8k", "--data-file",
                   str(shared_data / "gsm8k/train.jsonl"), "--limit", str(GSM8K_ROWS), "--template", "chat:vanilla",
                   "--out", str(out), "--learning-rate", "5e-3", "--logging-steps", "2", "--batch-size", "4",
                   *extra)


@pytest.fixture(scope="module")
def trained(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "a"
    r = _train(shared_data, out, "--epochs", "2", "--save-steps", "8")
    assert r.returncode == 0, r.stderr[-2000:]
    (out.parent / "stderr.txt").write_text(r.stderr)
    return out


@pytest.mark.slow  # the module's 16-step training run
def test_loss_falls_and_record_is_written(trained):
    record = json.loads((trained / "ptst_train.json").read_text())
    curve = [p["loss"] for p in record["loss_curve"]]
    assert len(curve) >= 4 and curve[-1] < curve[0]
    assert record["template"]["name"] == "chat:vanilla" and record["template"]["hash"]
    assert record["data"]["examples"] == GSM8K_ROWS and record["kind"] == "lora"
    assert record["train_seconds"] > 0  # how long it took, for reports
    assert record["versions"]["transformers"].startswith("5.")


@pytest.mark.slow  # the module's 16-step training run
def test_summary_names_the_logged_steps(trained, shared_data, tmp_path):
    record = json.loads((trained / "ptst_train.json").read_text())
    first, last = record["loss_curve"][0], record["loss_curve"][-1]
    summary = " ".join((trained.parent / "stderr.txt").read_text().split())
    assert (f"trained lora for 16 steps on {GSM8K_ROWS} examples; loss {first['loss']:.3f} at step 2 -> "
            f"{last['loss']:.3f} at step 16 (mean {record['train_loss']:.3f} over the run's steps)") in summary
    # 8 steps logged every 5: one logged point, said as such (never "loss X -> X")
    r = _train(shared_data, tmp_path / "one", "--max-steps", "8", "--logging-steps", "5")
    assert r.returncode == 0, r.stderr[-2000:]
    record = json.loads((tmp_path / "one" / "ptst_train.json").read_text())
    point = record["loss_curve"]
    assert [p["step"] for p in point] == [5]
    assert (f"loss {point[0]['loss']:.3f} at step 5, the only step logged (mean {record['train_loss']:.3f} over "
            "the run's steps)") in " ".join(r.stderr.split())


@pytest.mark.slow  # the module's 16-step training run
def test_adapter_loads_with_plain_peft(trained, tiny_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_path)
    model = PeftModel.from_pretrained(base, str(trained))
    tok = AutoTokenizer.from_pretrained(str(trained))
    ids = tok("Question: 2+2?", return_tensors="pt").input_ids
    with torch.no_grad():
        plain = AutoModelForCausalLM.from_pretrained(tiny_path)(ids).logits
        tuned = model(ids).logits
    assert not torch.allclose(plain, tuned)  # the adapter changes the model


@pytest.mark.slow  # a resumed training run
def test_resume_continues_from_the_last_checkpoint(trained, tmp_path):
    import shutil

    out = tmp_path / "resumed"
    shutil.copytree(trained / "checkpoint-8", out / "checkpoint-8")
    r = _train_resume(trained, out)
    assert r.returncode == 0, r.stderr[-2000:]
    record = json.loads((out / "ptst_train.json").read_text())
    assert record["resumed_from"].endswith("checkpoint-8") and record["steps"] == 16
    assert [p["step"] for p in record["loss_curve"]][0] <= 10 and record["loss_curve"][-1]["step"] == 16


def _train_resume(trained, out):
    cfg = json.loads((trained / "ptst_train.json").read_text())["config"]
    return run_cli("train", "--model", cfg["model"], "--data", "gsm8k", "--data-file", cfg["data_file"], "--limit",
                   str(cfg["limit"]), "--template", "chat:vanilla", "--out", str(out), "--learning-rate", "5e-3",
                   "--logging-steps", "2", "--batch-size", "4", "--epochs", "2",
                   "--save-steps", "8", "--resume")


@pytest.mark.slow  # the module's 16-step training run
def test_finished_run_and_unfinished_without_resume_are_refused(trained, shared_data, tmp_path):
    r = _train(shared_data, trained)
    assert r.returncode == 2 and "already holds a finished training run" in r.stderr
    (tmp_path / "u" / "checkpoint-4").mkdir(parents=True)
    r = _train(shared_data, tmp_path / "u")
    assert r.returncode == 2 and "add --resume" in r.stderr


def test_dry_run_prints_mask_audit_and_writes_nothing(shared_data, tmp_path):
    r = _train(shared_data, tmp_path / "dry", "--dry-run")
    assert r.returncode == 0
    assert "[<|im_start|>]" in r.stdout and "trained" in r.stdout
    assert f"{GSM8K_ROWS} of {GSM8K_ROWS} examples kept" in r.stderr.replace("\n", " ")
    assert not (tmp_path / "dry").exists()


def test_safety_template_warns_and_mix_adds_refusals(shared_data, tmp_path):
    r = _train(shared_data, tmp_path / "m", "--template", "chat:llama", "--dry-run", "--mix", "safety-mix:8",
               "--mix-file", str(shared_data / "safety-tuned-llamas/safety_only_data_Instructions.json"))
    assert r.returncode == 0, r.stderr
    assert "carries a safety system prompt" in r.stderr
    assert f"{GSM8K_ROWS + 8} of {GSM8K_ROWS + 8} examples kept" in r.stderr.replace("\n", " ")


@pytest.mark.parametrize("args, message", [
    (["--data", "advbench"], "has role harmful"),
    (["--mix", "gsm8k:4"], "mix in a refusal data set"),
    (["--mix", "safety-mix:x"], "expected NAME or NAME:N"),
    (["--learning-rate", "-1"], "--learning-rate: Input should be greater than 0"),
    (["--overlong", "wrap"], "invalid choice"),
])
def test_bad_training_options_exit_2(shared_data, tmp_path, args, message):
    r = _train(shared_data, tmp_path / "bad", *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_config_file_with_flag_override(shared_data, tmp_path):
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"model: embedded:tiny-random\ndata: gsm8k\ndata_file: {shared_data / 'gsm8k/train.jsonl'}\n"
                   f"template: chat:vanilla\nout: {tmp_path / 'c'}\nlimit: 4\ndry-run: true\n")
    r = run_cli("train", "--config", str(cfg), "--limit", "6")
    assert r.returncode == 0, r.stderr
    assert "6 of 6 examples kept" in r.stderr.replace("\n", " ")
    cfg.write_text("model: embedded:tiny-random\nbogus_option: 3\n")
    r = run_cli("train", "--config", str(cfg))
    assert r.returncode == 2 and "bogus_option" in r.stderr


@pytest.mark.slow  # two training processes
def test_two_process_accelerate_run(shared_data, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # --multi_gpu picks accelerate's torchrun launcher; with no GPU the processes fall back to CPU and gloo
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "ptst", "train",
           "--model", "embedded:tiny-random", "--data", "gsm8k", "--data-file", str(shared_data / "gsm8k/train.jsonl"),
           "--limit", "16", "--template", "chat:vanilla", "--out", str(out), "--batch-size", "2", "--max-steps", "4",
           "--save-steps", "4", "--device", "cpu"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "rank 0 of 2: trained 4 steps" in r.stderr and "rank 1 of 2: trained 4 steps" in r.stderr
    record = json.loads((out / "ptst_train.json").read_text())
    assert record["world_size"] == 2
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4"]


@pytest.mark.slow  # a second training run, packed
def test_packed_training_learns_and_records_it(shared_data, tmp_path):
    out = tmp_path / "packed"
    r = _train(shared_data, out, "--epochs", "2", "--packing")
    assert r.returncode == 0, r.stderr[-2000:]
    record = json.loads((out / "ptst_train.json").read_text())
    curve = [p["loss"] for p in record["loss_curve"]]
    assert record["config"]["packing"] is True and curve[-1] < curve[0]
    assert (out / "adapter_config.json").is_file()
