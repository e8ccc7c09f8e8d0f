"""Versions of the packages that decide a run's numbers, for records and manifests."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = ("ptst", "torch", "transformers", "peft", "accelerate", "datasets", "gguf")


def package_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found
