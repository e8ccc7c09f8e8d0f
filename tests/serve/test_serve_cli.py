"""`ptst serve` refuses bad settings with one line and exit 2, before the model is loaded (the model given here
does not exist, so an error about anything else proves the check came first)."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import run_cli

NO_MODEL = "/nonexistent/model-dir"


def _serve(*args: str):
    return run_cli("serve", "--template", "chat:llama", *args, timeout=120)


def _one_line_exit_2(result, *names: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for name in names:
        assert name in lines[0], lines[0]


@pytest.mark.parametrize("args, names", [
    (["--port", "70000"], ["--port", "65535"]),
    (["--port", "0"], ["--port"]),
    (["--port", "-1"], ["--port"]),
    (["--host", "no-such-host.invalid"], ["--host no-such-host.invalid"]),
    (["--host", "192.0.2.77"], ["--host 192.0.2.77", "not an address of this machine"]),
    (["--max-queue", "0"], ["--max-queue"]),
    (["--max-batch", "0"], ["--max-batch"]),
    (["--max-tokens", "0"], ["--max-tokens"]),
    (["--max-prompt-tokens", "0"], ["--max-prompt-tokens"]),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_settings_fail_before_the_model_loads(args, names):
    _one_line_exit_2(_serve("--model", NO_MODEL, *args), *names)


def test_a_port_in_use_is_named():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        _one_line_exit_2(_serve("--model", NO_MODEL, "--port", str(port)), f"--port {port}", "in use")


@pytest.mark.slow
def test_a_prompt_limit_over_the_models_context_is_refused():
    """tiny-random has a context of 2048 tokens."""
    _one_line_exit_2(_serve("--model", "embedded:tiny-random", "--max-prompt-tokens", "5000"),
                     "--max-prompt-tokens 5000", "context of 2048")
    _one_line_exit_2(_serve("--model", "embedded:tiny-random", "--max-tokens", "4096"), "--max-tokens 4096")
