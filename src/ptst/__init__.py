"""ptst: Pure Tuning, Safe Testing. Fine-tune aligned chat models and measure what it does to their safety."""

__version__ = "0.1.0"
