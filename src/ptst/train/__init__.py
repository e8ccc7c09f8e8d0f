"""Fine-tuning: tokenise (template, input, answer) into prompt + completion with the loss on the completion only,
then train LoRA or the full model with the Hugging Face Trainer."""

from ptst.train.config import TrainConfig
from ptst.train.examples import Example, build_examples, mask_audit
from ptst.train.run import run_training

__all__ = ["Example", "TrainConfig", "build_examples", "mask_audit", "run_training"]
