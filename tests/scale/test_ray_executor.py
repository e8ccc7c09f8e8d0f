"""`ptst run --executor ray` on a local Ray cluster (2 CPUs): the smoke study's results equal the in-process run's;
a worker killed mid-task is retried; the driver killed with SIGKILL and run again resumes to the same results."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.scale.runs import count_samples, samples, scores

pytestmark = pytest.mark.slow  # a local Ray cluster running studies

SMOKE = ROOT / "configs" / "smoke.yaml"


def _ray_run(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ptst", "run", str(SMOKE), "--out", str(out), "--no-progress", "--executor", "ray",
            *extra]


def _processes(title: str) -> list[int]:
    """Pids of this machine's processes whose command line starts with TITLE (Ray names a busy worker
    `ray::FUNCTION`)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(title.encode()):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _wait_for(check, proc: subprocess.Popen, seconds: float = 600):
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    return None


@pytest.fixture(scope="module")
def in_process(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "run"
    r = run_cli("run", str(SMOKE), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def on_ray(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    base = tmp_path_factory.mktemp("ray")
    out, artifacts = base / "run", base / "shared-artifacts"
    r = subprocess.run(_ray_run(out, "--artifacts", str(artifacts)), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, artifacts, r


def test_the_smoke_study_on_ray_gives_the_in_process_results(in_process, on_ray):
    out, artifacts, r = on_ray
    assert "training 2 runs as Ray tasks" in r.stderr
    assert samples(out) == samples(in_process) and len(samples(out)) == 84
    assert scores(out) == scores(in_process)
    assert (out / "results.csv").read_text() == (in_process / "results.csv").read_text()
    adapters = sorted(p.name for p in (artifacts / "train").iterdir())
    assert len(adapters) == 2 and not (out / "train").exists()  # adapters went through --artifacts only
    assert all((artifacts / "train" / name / "adapter_model.safetensors").is_file() for name in adapters)


def test_a_run_moves_between_executors_without_a_config_difference(in_process, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(in_process, out)
    before = samples(out)
    r = subprocess.run(_ray_run(out), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "different config" not in r.stderr and samples(out) == before


def test_a_worker_killed_mid_task_is_retried(in_process, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(_ray_run(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        victims = _wait_for(lambda: _processes("ray::train_run"), proc)  # a worker is titled so while it trains
        assert victims, "no training task seen running"
        os.kill(victims[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=900)
    finally:
        _end_group(proc.pid)
    assert proc.returncode == 0, err[-3000:]
    assert samples(out) == samples(in_process)
    assert (out / "results.csv").read_text() == (in_process / "results.csv").read_text()
    assert not list((out / "train").glob(".*partial*"))  # the killed attempt left nothing behind


def test_the_driver_killed_then_run_again_resumes_to_the_same_results(in_process, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(_ray_run(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        assert _wait_for(lambda: count_samples(out) > 0, proc), "no samples stored before the kill"
        os.kill(proc.pid, signal.SIGKILL)  # the driver alone; its local cluster notices and ends
        proc.wait()
    finally:
        _end_group(proc.pid)
    stored = samples(out)
    assert 0 < len(stored) < 84
    r = subprocess.run(_ray_run(out), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "training 2 runs" not in r.stderr  # both adapters were recorded before the kill
    got = samples(out)
    assert all(got[k] == v for k, v in stored.items())
    assert got == samples(in_process)
    assert (out / "results.csv").read_text() == (in_process / "results.csv").read_text()


def _end_group(pgid: int) -> None:
    """What a killed run started and left behind (Ray's agents outlive a SIGKILLed driver for a while): its
    process group, which this test started."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_resources_no_node_has_are_one_line_before_any_training(tmp_path):
    config = tmp_path / "smoke.yaml"
    config.write_text(SMOKE.read_text() + "resources: {train: {gpus: 1}}\n")
    r = run_cli("run", str(config), "--out", str(tmp_path / "run"), "--no-progress", "--executor", "ray")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "resources.train.gpus: 1 per task, but no node of the Ray cluster has more than 0" in r.stderr
    assert not (tmp_path / "run" / "train").exists()


def test_an_unknown_executor_is_one_line_naming_the_registered_ones(tmp_path):
    r = run_cli("run", str(SMOKE), "--out", str(tmp_path / "run"), "--executor", "slurm")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "unknown executor 'slurm'" in r.stderr and "local, ray" in r.stderr
    assert not (tmp_path / "run").exists()
