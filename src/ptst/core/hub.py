"""The Hugging Face hub, when it cannot be reached: switch the libraries to offline mode at once (so cached
copies still load and everything else fails fast with our own one-line error) instead of waiting for retries."""

from __future__ import annotations

import logging
import os
import socket
from functools import lru_cache
from urllib.parse import urlparse


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "TRUE", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def prepare_hub_access() -> bool:
    """Call before any hub access; returns whether the hub is reachable. Quietens the hub client's own retry
    warnings either way (ptst reports failures itself)."""
    for name in ("huggingface_hub", "datasets", "filelock"):
        logging.getLogger(name).setLevel(logging.ERROR)
    reachable = hub_reachable()
    if not reachable:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
    return reachable
