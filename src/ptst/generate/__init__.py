"""Generation: render a data set under a test template, generate, and append one JSONL row per sample."""

from ptst.generate.config import GenerateConfig
from ptst.generate.run import run_generation

__all__ = ["GenerateConfig", "run_generation"]
