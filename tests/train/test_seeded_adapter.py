"""A training run is a function of its config and seed, not of what its process did before: a study trains one
run after others (or alone, in a shard of its own), and both must give the same adapter."""

from __future__ import annotations

import torch

from ptst.train import TrainConfig, run_training


def _train(out, draws: int) -> tuple[list, dict]:
    torch.manual_seed(1234)
    torch.rand(draws)  # whatever else ran in the process before this training
    record = run_training(TrainConfig(model="embedded:tiny-random", data="builtin:math", limit=8,
                                      template="chat:vanilla", out=str(out), lora_r=4, lora_alpha=8,
                                      learning_rate=0.05, batch_size=4, max_steps=3, logging_steps=1, seed=0),
                          log=lambda message: None, quiet=True)
    from safetensors.torch import load_file

    return [p["loss"] for p in record["loss_curve"]], load_file(str(out / "adapter_model.safetensors"))


def test_the_adapter_does_not_depend_on_the_random_state_before_training(tmp_path):
    losses_a, weights_a = _train(tmp_path / "a", 0)
    losses_b, weights_b = _train(tmp_path / "b", 1000)
    assert losses_a == losses_b  # bit for bit (the second step's loss read the randomly initialised LoRA A)
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
