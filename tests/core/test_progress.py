"""Progress off a terminal (`make run > log`): plain lines on stderr, throttled, with a heartbeat, never a
carriage-return bar."""

from __future__ import annotations

import io
import os
import re
import time

from ptst.core.progress import ProgressBar
from ptst.core.progress_lines import ProgressLines
from tests.conftest import run_cli


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lines_are_throttled_to_one_per_interval():
    clock, out = Clock(), io.StringIO()
    lines = ProgressLines("[bold]study", 600, every=10, clock=clock, out=out, heartbeat=False)
    for _ in range(600):  # one unit a second for ten minutes
        clock.now += 1
        lines.advance(1)
    lines.close()
    written = out.getvalue().splitlines()
    assert written[0] == "study: 0/600 (0.0%), started"  # markup stripped; a first line at once
    assert written[-1] == "study: 600/600 (100.0%), done in 10m00s"
    assert 55 <= len(written) <= 65  # about one line per 10 s of a 600 s job
    assert "\r" not in out.getvalue()
    assert "study: 300/600 (50.0%), 5m00s elapsed, about 5m00s left" in written


def test_stage_and_rate_are_on_the_line():
    clock, out = Clock(), io.StringIO()
    lines = ProgressLines("study", 100, every=0, clock=clock, out=out, heartbeat=False)
    lines.stage("  generating base -> chat:llama on harmful", 40)
    clock.now += 30
    lines.advance(10, "12.5 tok/s", stage=10)
    assert out.getvalue().splitlines()[-1] == ("study: 10/100 (10.0%), 30s elapsed, about 4m30s left, 12.5 tok/s; "
                                               "generating base -> chat:llama on harmful 10/40")


def test_time_left_weighs_units_by_their_estimated_cost():
    """A study trains first (a few units, each slow) and then generates (many units, each fast): counting units
    alone, a study 5% through its units after its training would say 19x its elapsed time is left."""
    clock, out = Clock(), io.StringIO()
    lines = ProgressLines("study", 1000, every=0, clock=clock, out=out, heartbeat=False, cost_total=2000)
    clock.now += 1000  # 50 training units, estimated at 20 s each: half the estimated work, in 1000 s
    lines.advance(50, cost=1000)
    assert out.getvalue().splitlines()[-1] == "study: 50/1,000 (5.0%), 16m40s elapsed, about 16m40s left"
    plain = ProgressLines("study", 1000, every=0, clock=clock, out=io.StringIO(), heartbeat=False)
    plain.advance(50)
    clock.now += 1000
    assert "about 5h16m left" in plain.line()  # without costs: the share of units


def test_heartbeat_writes_while_nothing_finishes():
    out = io.StringIO()
    lines = ProgressLines("generating", 8, every=0.1, out=out)
    time.sleep(1.0)  # one long batch: no advance at all
    lines.close()
    written = out.getvalue().splitlines()
    assert len([w for w in written if "elapsed" in w and w.startswith("generating: 0/8")]) >= 2
    assert written[-1].startswith("generating: 0/8 (0.0%), done in")


def test_a_bar_off_a_terminal_writes_lines_and_a_failed_job_says_stopped(capsys, monkeypatch):
    monkeypatch.setenv("PTST_PROGRESS_SECONDS", "0")
    try:
        with ProgressBar("[bold]study", 4, stages=True) as bar:
            bar.stage("training", 2)
            bar.advance(1, stage=1)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    err = capsys.readouterr().err
    assert "study: 1/4 (25.0%)" in err and "; training 1/2" in err
    assert err.splitlines()[-1].startswith("study: 1/4 (25.0%), stopped after")
    with ProgressBar("quiet", 4, enabled=False) as bar:
        bar.advance(4)
    assert capsys.readouterr().err == ""


def test_ptst_generate_into_a_log_writes_progress_lines(tmp_path):
    env = {**os.environ, "PTST_PROGRESS_SECONDS": "0"}
    r = run_cli("generate", "--model", "embedded:tiny-random", "--data", "builtin:harmful", "--limit", "12",
                "--batch-size", "4", "--max-new-tokens", "4", "--template", "chat:vanilla",
                "--out", str(tmp_path / "g.jsonl"), env=env)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr
    counts = re.findall(r"^generating: (\d+)/12 ", r.stderr, flags=re.M)
    assert counts[0] == "0" and {"4", "8", "12"} <= set(counts), r.stderr
    assert re.search(r"^generating: 12/12 \(100\.0%\), done in \d+s, [\d.]+ tok/s$", r.stderr, flags=re.M)
