"""A study store written with ptst's own pieces, for report tests that need responses a random model never gives
(refusals, right answers, hostile text): real built-in items rendered by the real renderer (Llama-2 markup: no
tokenizer needed), chosen replies, and verdicts from the real scorers."""

from __future__ import annotations

import json
import random
from pathlib import Path

from ptst.data import load_items
from ptst.score.gsm8k import Gsm8kScorer
from ptst.score.refusal import RefusalKeywordScorer
from ptst.score.truncation import TruncationScorer
from ptst.store.study_store import StudyStore
from ptst.templates import get_template, render_prompt

TRAIN, TEST = ["chat:vanilla", "chat:llama"], ["chat:vanilla", "chat:llama"]
REFUSAL = "I'm sorry, but I cannot help with that request."
COMPLY = "Sure, here is how you could start: step 1, gather what you need; step 2, "
# hostile text as a model or a data set might write it: each would run or show markup if put into the page as HTML
PAYLOADS = ["</script><script>window.__pwned = 'script'</script>",
            "<img src=x onerror=\"window.__pwned = 'img'\">",
            "<b id=\"injected-bold\">bold?</b> & &amp; \u2028 \U0001f600"]
# the share of harmful requests each (train, test) cell complies with, so cells differ request by request
COMPLIANCE = {("base", "chat:vanilla"): 0.45, ("base", "chat:llama"): 0.25,
              ("chat:vanilla", "chat:vanilla"): 0.65, ("chat:vanilla", "chat:llama"): 0.5,
              ("chat:llama", "chat:vanilla"): 0.65, ("chat:llama", "chat:llama"): 0.65}


def write_store(run_dir: Path, *, harmful: int = 24, math: int = 8, pad: int = 0, seed: int = 0) -> Path:
    """A one-seed 3 x 2 study (base and two trainings, two test templates) over harmful requests and math, with
    `harmful` and `math` items per cell (repeated, with new ids, past the built-in sets' sizes), replies padded
    with `pad` characters. The first harmful item's input and replies carry PAYLOADS."""
    config = {"name": "browser <test>", "model": "embedded:tiny-random",
              "train": {"data": "builtin:math", "templates": TRAIN, "seeds": [0]}, "test_templates": TEST,
              "evals": [{"name": "harmful", "data": "builtin:harmful", "scorers": ["refusal-keywords"]},
                        {"name": "math", "data": "builtin:math-test", "scorers": ["gsm8k", "truncation"]}]}
    store = StudyStore(run_dir)
    store.set_meta("config", json.dumps(config))
    store.add_variant("v-base", None, "base", None, None, None, None)
    for t in TRAIN:
        store.add_variant(f"v-{t}", f"t-{t}", t, t, 0, None, f"train/{t}")
    rng, active = random.Random(seed), []
    harmful_items, math_items = _items("builtin:harmful", harmful), _items("builtin:math-test", math)
    pick = {item.id: rng.random() for item in harmful_items}  # one draw per request: cells differ by threshold
    for row in ["base", *TRAIN]:
        for test in TEST:
            template = get_template(test)
            for eval_name, items in (("harmful", harmful_items), ("math", math_items)):
                cid = f"c-{row}-{test}-{eval_name}"
                store.add_cell(cid, f"v-{row}", test, eval_name, {}, len(items))
                rows = []
                for k, item in enumerate(items):
                    text = PAYLOADS[0] + item.input if k == 0 and eval_name == "harmful" else item.input
                    if eval_name == "harmful":
                        output = COMPLY if pick[item.id] < COMPLIANCE[(row, test)] else REFUSAL
                        output += " ".join(PAYLOADS) if k == 0 else ""
                        finish = "length" if output.startswith("Sure") else "stop"
                    else:
                        right = (k + len(row)) % 3 != 0
                        answer = item.answer.rsplit("#### ", 1)[1] if right else "0"
                        output, finish = f"Step by step.\n#### {answer}", "stop" if k % 4 else "length"
                    prompt = render_prompt(template, text, markup="llama2").text
                    rows.append({"id": item.id, "input": text, "reference": item.answer, "prompt": prompt,
                                 "output": output + "x" * pad, "template": test, "finish_reason": finish,
                                 "output_tokens": 32})
                store.add_samples(cid, rows)
                scorers = [RefusalKeywordScorer()] if eval_name == "harmful" else [Gsm8kScorer(), TruncationScorer()]
                for scorer in scorers:
                    store.add_scores(cid, scorer.name, [(r["id"], v) for r, v in
                                                        zip(rows, scorer.score(rows), strict=True)])
                active.append(cid)
    store.set_active(active)
    store.close()
    return run_dir


def _items(name: str, n: int):
    base = load_items(name)
    return [base[k % len(base)] if k < len(base) else
            type(base[0])(f"{base[k % len(base)].id}-r{k // len(base)}", f"{base[k % len(base)].input} ({k})",
                          base[k % len(base)].answer, base[k % len(base)].category) for k in range(n)]
