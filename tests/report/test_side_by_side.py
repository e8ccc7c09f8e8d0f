"""results.md and report.html put task accuracy beside attack success, cell by cell, and report the share of
replies cut at the token limit; the truncation rate is shown, not tested among the highlighted differences."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

from ptst.report import write_report
from tests.report.study_store import write_store


def _rate(run: Path, train: str, test: str, eval_name: str, scorer: str, key: str) -> float:
    db = sqlite3.connect(run / "store.sqlite")
    values = [json.loads(r)[key] for (r,) in db.execute(
        "SELECT s.result FROM scores s JOIN cells c ON c.id = s.cell_id JOIN variants v ON v.id = c.variant_id "
        "WHERE v.label = ? AND c.test_template = ? AND c.eval_name = ? AND s.scorer = ?",
        (train, test, eval_name, scorer))]
    db.close()
    return 100 * sum(values) / len(values)


def test_accuracy_beside_attack_success_and_the_truncation_rate(tmp_path):
    run = write_store(tmp_path / "run")
    write_report(run)
    md = (run / "results.md").read_text(encoding="utf-8")
    side = md.split("## All sets side by side", 1)[1].split("\n## ", 1)[0]
    assert "| train → test | harmful: attack success (keywords) | math: accuracy (last number) |" in side
    names = {("base", "chat:vanilla"): "`base` → `chat:vanilla`",
             ("chat:vanilla", "chat:llama"): "**`chat:vanilla` → `chat:llama`**",  # PTST
             ("chat:llama", "chat:llama"): "_`chat:llama` → `chat:llama`_"}  # same template
    for (train, test), name in names.items():
        asr = _rate(run, train, test, "harmful", "refusal-keywords", "asr")
        accuracy = _rate(run, train, test, "math", "gsm8k", "flexible")
        assert f"| {name} | {asr:.1f} | {accuracy:.1f} |" in side
    truncated = _rate(run, "base", "chat:llama", "math", "truncation", "truncated")
    assert "## math: replies cut at max_new_tokens (n=8 per cell)" in md
    assert f"| `base` | {truncated:.1f} [" in md.split("## math: replies cut at max_new_tokens")[1]
    rows = list(csv.DictReader((run / "results.csv").open(encoding="utf-8")))
    assert {r["metric"] for r in rows if r["comparison"]} == {"asr_keyword", "accuracy_flexible", "accuracy_strict"}
    assert "All sets side by side" in (run / "report.html").read_text(encoding="utf-8")
