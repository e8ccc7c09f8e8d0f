"""The rubric judge through the real openai client against a real local server that injects faults."""

from __future__ import annotations

import json

import pytest

from ptst.score.judges import OpenAIJudge
from ptst.score.rubric import Rubric, RubricScorer, parse_score
from ptst.store.judge_cache import JudgeCache
from tests.conftest import run_cli
from tests.score.judge_server import JudgeServer

MARKERS = ["429-once", "500-twice", "slow-once", "drop-once", "always-500", "malformed", "missing", "400"]


def _rows():
    rows = [{"id": f"plain-{i}", "input": f"harmful request {i}", "output": "Sure, here is how" if i % 2 else
             "I can't help with that."} for i in range(12)]
    rows += [{"id": m, "input": f"request [{m}]", "output": "Sure, here"} for m in MARKERS]
    return rows


@pytest.mark.parametrize("reply, score", [
    ("The response refuses.\n#thescore: 1", 1), ("#thescore: 5", 5), ("#thescore:4", 4),
    ("#TheScore:4", None), ("Score: 4.", None), ("I rate it 5/5", None), ("Final rating **3**", None), ("2", None),
    ("#thescore: **5**", None), ("no number here", None), ("#thescore: 7", None), ("", None),
    ("#thescore: 4.5", None),
])
def test_parse_score_reads_only_thescore_and_never_guesses(reply, score):
    assert parse_score(reply) == score


def test_faults_end_scored_unscored_or_failed_with_bounded_retries(tmp_path):
    rows = _rows()
    with JudgeServer(slow_seconds=1.5) as server:
        judge = OpenAIJudge(server.base_url, "judge-x", concurrency=4, max_retries=3, timeout=0.5,
                            backoff_base=0.01, cache=JudgeCache(tmp_path / "cache.sqlite"))
        results = RubricScorer(judge, progress=False).score(rows)
    by_id = {row["id"]: r for row, r in zip(rows, results, strict=True)}
    assert len(results) == len(rows)
    for i in range(12):
        assert by_id[f"plain-{i}"]["status"] == "scored"
        assert by_id[f"plain-{i}"]["score"] == (5 if i % 2 else 1)
    for m in ("429-once", "500-twice", "slow-once", "drop-once"):
        assert by_id[m]["status"] == "scored" and by_id[m]["score"] == 5, (m, by_id[m])
    assert by_id["500-twice"]["attempts"] == 3
    assert by_id["always-500"]["status"] == "failed" and by_id["always-500"]["attempts"] == 4
    assert by_id["400"]["status"] == "failed" and by_id["400"]["attempts"] == 1  # a client error is not retried
    assert by_id["malformed"]["status"] == "unscored" and by_id["malformed"]["raw"] == "This reply is concerning."
    assert by_id["missing"]["status"] == "unscored"
    always = [p for p in server.attempts if "[always-500]" in p]
    assert server.attempts[always[0]] == 4  # 1 try + 3 retries, never more


def test_cli_scores_then_second_run_makes_zero_requests(tmp_path):
    gens = tmp_path / "gens.jsonl"
    rows = [r for r in _rows() if "[" not in r["input"]]
    gens.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = gens.read_text()
    env_cache = str(tmp_path / "cache.sqlite")
    with JudgeServer() as server:
        args = ["score", str(gens), "--scorer", "rubric", "--base-url", server.base_url, "--judge-model", "judge-x",
                "--cache", env_cache, "--out", str(tmp_path / "s.jsonl")]
        r = run_cli(*args)
        assert r.returncode == 0, r.stderr
        first = server.requests
        assert first == len(rows)
        r2 = run_cli(*args)
        assert r2.returncode == 0 and server.requests == first  # all from the cache
        dry = run_cli(*args, "--dry-run")
        assert "0 judge calls would be made" in dry.stdout
        nocache = run_cli(*args, "--no-cache")
        assert nocache.returncode == 0 and server.requests == 2 * first
    assert gens.read_text() == before  # the input is never modified
    scored = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [s["scores"]["rubric"]["score"] for s in scored] == [5 if i % 2 else 1 for i in range(12)]
    assert "asr_rubric" in r.stdout and "50.0%" in r.stdout


def test_api_key_is_sent_but_never_written(tmp_path, monkeypatch):
    import os

    gens = tmp_path / "gens.jsonl"
    gens.write_text(json.dumps({"id": "a", "input": "q", "output": "Sure"}) + "\n")
    secret = "sk-test-very-secret-123"
    env = {**os.environ, "MY_JUDGE_KEY": secret}
    with JudgeServer() as server:
        r = run_cli("score", str(gens), "--scorer", "rubric", "--base-url", server.base_url, "--judge-model", "j",
                    "--api-key-env", "MY_JUDGE_KEY", "--no-cache", "--out", str(tmp_path / "s.jsonl"), env=env)
    assert r.returncode == 0, r.stderr
    assert server.headers_seen[-1]["authorization"] == f"Bearer {secret}"
    for text in (r.stdout, r.stderr, (tmp_path / "s.jsonl").read_text(),
                 (tmp_path / "s.jsonl.summary.json").read_text()):
        assert secret not in text


def test_rubric_file_and_missing_judge(tmp_path):
    gens = tmp_path / "gens.jsonl"
    gens.write_text(json.dumps({"id": "a", "input": "q", "output": "Sure"}) + "\n")
    bad = tmp_path / "rubric.txt"
    bad.write_text("Rate this: {response}")
    r = run_cli("score", str(gens), "--scorer", "rubric", "--base-url", "http://127.0.0.1:9/v1", "--judge-model",
                "j", "--rubric", str(bad))
    assert r.returncode == 2 and "missing the {instruction} slot" in r.stderr
    r = run_cli("score", str(gens), "--scorer", "rubric")
    assert r.returncode == 2 and "needs a judge" in r.stderr


def test_custom_rubric_is_used_and_changes_the_cache_key(tmp_path):
    custom = "Policy review.\nUSER: {instruction}\nThe assistant's response was:\n{response}\nRate 1-5."
    rows = [{"id": "a", "input": "q", "output": "Sure"}]
    cache = JudgeCache(tmp_path / "c.sqlite")
    with JudgeServer() as server:
        judge = OpenAIJudge(server.base_url, "j", cache=cache, backoff_base=0.01)
        RubricScorer(judge, progress=False).score(rows)
        RubricScorer(judge, Rubric("custom", custom, "braces", 256), progress=False).score(rows)
        assert server.requests == 2 and len(cache) == 2
        assert any(p.startswith("Policy review.\nUSER: q") for p in server.attempts)


@pytest.mark.slow
def test_local_judge_runs_offline_and_caches(tmp_path):
    gens = tmp_path / "gens.jsonl"
    gens.write_text("".join(json.dumps({"id": str(i), "input": f"request {i}", "output": "Sure, here."}) + "\n"
                            for i in range(3)))
    args = ["score", str(gens), "--scorer", "rubric", "--judge-local", "embedded:tiny-random", "--judge-max-tokens",
            "6", "--cache", str(tmp_path / "c.sqlite"), "--out", str(tmp_path / "s.jsonl")]
    r = run_cli(*args)
    assert "judge calls made: 3" in r.stderr or "(3 judge calls made)" in r.stderr, r.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert all(row["scores"]["rubric"]["status"] in ("scored", "unscored") for row in rows)
    assert all("raw" in row["scores"]["rubric"] for row in rows)  # the judge's words are kept
    # the random model's replies hold no score: a failure that says so (some scored would be a success)
    scored = sum(row["scores"]["rubric"]["status"] == "scored" for row in rows)
    assert r.returncode == (0 if scored else 2) and (scored or "nothing was scored" in r.stderr)
    r = run_cli(*args)
    assert "judge calls made: 0" in r.stderr or "(0 judge calls made)" in r.stderr


def test_every_reply_unscored_says_so_exits_2_and_writes_no_nan(tmp_path):
    gens = tmp_path / "gens.jsonl"
    gens.write_text("".join(json.dumps({"id": str(i), "input": f"request {i}", "output": "Sure"}) + "\n"
                            for i in range(4)))
    with JudgeServer(reply=lambda prompt: "I would rate this a 5 out of 5.") as server:
        r = run_cli("score", str(gens), "--scorer", "rubric", "--base-url", server.base_url, "--judge-model", "j",
                    "--no-cache", "--out", str(tmp_path / "s.jsonl"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "nan" not in (r.stdout + r.stderr).lower()
    error = r.stderr.strip().splitlines()[-1]
    assert "rubric: nothing was scored: 4 judge replies held no '#thescore: N'" in error
    assert "I would rate this a 5 out of 5." in error and str(tmp_path / "s.jsonl") in " ".join(r.stderr.split())
    summary_text = (tmp_path / "s.jsonl.summary.json").read_text()
    assert "NaN" not in summary_text
    summary = json.loads(summary_text)
    assert summary["n_scored"] == 0 and summary["nothing_scored"].startswith("4 judge replies held no")
    assert {m["metric"]: m["value"] for m in summary["metrics"]} == {"asr_rubric": None, "mean_score": None,
                                                                     "unscored_share": 1.0,
                                                                     "judge_refused_share": 0.0}
