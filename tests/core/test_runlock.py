"""One ptst process per run directory: a second `ptst run` exits 2 at once naming the holder's PID, and a lock
left by a killed process frees itself (no manual cleanup)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ptst.cli.main import main
from ptst.core.errors import PtstError
from ptst.core.paths import LOCK_NAME
from ptst.core.runlock import RunLock, lock_holder
from tests.conftest import run_cli

HOLD = "import sys, time\nfrom ptst.core.runlock import RunLock\nRunLock(sys.argv[1]).acquire()\nprint('held', " \
       "flush=True)\ntime.sleep(120)\n"


def _study(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(json.dumps({
        "name": "lock", "model": "embedded:tiny-random", "test_templates": ["chat:vanilla"],
        "evals": [{"name": "h", "data": "builtin:harmful", "limit": 2, "scorers": ["refusal-keywords"]}],
        "decoding": {"max_new_tokens": 2}}))
    return path


def _hold(run_dir) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.slow
def test_a_second_run_is_refused_naming_the_holder_and_a_killed_holder_leaves_no_lock(tmp_path):
    run_dir = tmp_path / "run"
    holder = _hold(run_dir)
    try:
        started = time.monotonic()
        r = run_cli("run", str(_study(tmp_path)), "--out", str(run_dir), "--no-progress")
        assert r.returncode == 2, r.stderr
        assert f"in use by another ptst process (PID {holder.pid})" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr  # the refusal alone
        assert time.monotonic() - started < 60  # refused at once, not after waiting for the holder
        assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_NAME]  # the refused run wrote nothing
        assert lock_holder(run_dir) == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (run_dir / LOCK_NAME).exists() and lock_holder(run_dir) is None  # the OS released it
    r = run_cli("run", str(_study(tmp_path)), "--out", str(run_dir), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert (run_dir / "store.sqlite").is_file() and lock_holder(run_dir) is None


def test_ptst_train_takes_the_lock_of_its_out_directory(tmp_path, capfd):
    data = tmp_path / "math.jsonl"
    data.write_text('{"question": "1+1?", "answer": "#### 2"}\n')
    out = tmp_path / "adapter"
    with RunLock(out):
        code = main(["train", "--model", "embedded:tiny-random", "--template", "chat:vanilla", "--data", "gsm8k",
                     "--data-file", str(data), "--max-steps", "1", "--out", str(out)])
    err = capfd.readouterr().err
    assert code == 2 and f"(PID {os.getpid()})" in err
    assert not (out / "ptst_train.json").exists()


def test_the_lock_file_holds_the_pid_and_marks_the_directory(tmp_path):
    with RunLock(tmp_path / "r") as lock:
        assert lock.path.read_text().strip() == str(os.getpid())
        with pytest.raises(PtstError, match=f"PID {os.getpid()}"):
            RunLock(tmp_path / "r").acquire()
        (tmp_path / "r" / "store.sqlite").write_text("")
    assert (tmp_path / "r" / LOCK_NAME).is_file()  # kept: the directory is ptst's
    RunLock(tmp_path / "r").acquire().release()  # free again


def test_a_directory_the_lock_created_is_removed_when_nothing_else_was_written(tmp_path):
    with RunLock(tmp_path / "a" / "b"):
        pass
    assert not (tmp_path / "a").exists()
    (tmp_path / "c").mkdir()
    with RunLock(tmp_path / "c"):
        pass
    assert (tmp_path / "c" / LOCK_NAME).is_file()  # an existing directory keeps its lock file
