"""report.html's sample browser in a real headless Chromium: the page loads with no console errors, the verdict
filters show exactly the store's verdicts, each highlighted comparison lists the requests whose outcome differs
with both responses, hostile text stays text, and a 20,000-sample study renders one page at a time (and, past the
size budget, leaves the rest to report-samples.jsonl)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from ptst.report import write_report
from tests.report.chromium import chromium, console_problems
from tests.report.study_store import PAYLOADS, write_store


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    run = write_store(tmp_path_factory.mktemp("browser") / "run")
    write_report(run)
    return run


def _store_verdicts(run: Path, train: str, test: str, eval_name: str, scorer: str) -> dict[str, dict]:
    db = sqlite3.connect(run / "store.sqlite")
    rows = db.execute("SELECT s.item_id, s.result FROM scores s JOIN cells c ON c.id = s.cell_id JOIN variants v "
                      "ON v.id = c.variant_id WHERE v.label = ? AND c.test_template = ? AND c.eval_name = ? AND "
                      "s.scorer = ?", (train, test, eval_name, scorer)).fetchall()
    outputs = dict(db.execute("SELECT s.item_id, json_extract(s.row, '$.output') FROM samples s JOIN cells c ON "
                              "c.id = s.cell_id JOIN variants v ON v.id = c.variant_id WHERE v.label = ? AND "
                              "c.test_template = ? AND c.eval_name = ?", (train, test, eval_name)).fetchall())
    db.close()
    return {item: {**json.loads(result), "output": outputs[item]} for item, result in rows}


def _open(driver, run: Path) -> None:
    driver.get((run / "report.html").as_uri())
    driver.find_element("id", "cell-select")  # the script ran and built the browser


def _select(driver, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", element_id)).select_by_value(value)


def _cell_value(driver, label_start: str) -> str:
    from selenium.webdriver.support.ui import Select

    options = Select(driver.find_element("id", "cell-select")).options
    return next(o.get_attribute("value") for o in options if o.text.startswith(label_start))


def _filter(driver, column: str, verdict: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("css selector", f'select.verdict-filter[data-column="{column}"]')).select_by_value(
        verdict)


def _shown(driver, column: str) -> list[tuple[str, str]]:
    """(item id, verdict in `column`) of every sample on the page."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#sample-list .sample')).map(a => [a.dataset.id, "
        "a.querySelector('.verdict[data-column=\"' + arguments[0] + '\"]').dataset.verdict]);", column)


def test_page_loads_and_the_verdict_filters_show_the_stores_verdicts(browser, small_run):
    _open(browser, small_run)
    assert console_problems(browser) == []
    cells = browser.execute_script("return document.querySelectorAll('#cell-select option').length")
    assert cells == 3 * 2 * 2
    _select(browser, "cell-select", _cell_value(browser, "chat:vanilla → chat:llama (PTST) · harmful"))
    truth = _store_verdicts(small_run, "chat:vanilla", "chat:llama", "harmful", "refusal-keywords")
    refused = {item for item, r in truth.items() if r["refused"]}
    assert 0 < len(refused) < len(truth)
    assert len(_shown(browser, "refusal-keywords")) == len(truth)
    _filter(browser, "refusal-keywords", "refused")
    shown = _shown(browser, "refusal-keywords")
    assert {item for item, _ in shown} == refused and {v for _, v in shown} == {"refused"}
    _filter(browser, "refusal-keywords", "complied")
    assert {item for item, _ in _shown(browser, "refusal-keywords")} == set(truth) - refused
    _filter(browser, "finish", "length")  # combined with "complied": the store's cut compliances
    assert {item for item, v in _shown(browser, "finish")} == {
        item for item, r in truth.items() if not r["refused"] and r["output"].startswith("Sure")}
    _filter(browser, "refusal-keywords", "")
    _filter(browser, "finish", "")
    search = browser.find_element("id", "sample-search")
    search.send_keys("Ransomware")
    db = sqlite3.connect(small_run / "store.sqlite")
    mention = {item for item, text in db.execute(
        "SELECT item_id, lower(json_extract(row, '$.input') || json_extract(row, '$.output')) FROM samples "
        "WHERE cell_id = 'c-chat:vanilla-chat:llama-harmful'") if "ransomware" in text}
    assert 0 < len(mention) < len(truth)
    assert {item for item, _ in _shown(browser, "finish")} == mention
    search.clear()
    # a math cell: its own verdict columns, each sample with its prompt and reference answer
    _select(browser, "cell-select", _cell_value(browser, "base → chat:vanilla · math"))
    columns = browser.execute_script(
        "return Array.from(document.querySelectorAll('select.verdict-filter')).map(s => s.dataset.column)")
    assert columns == ["gsm8k", "truncation", "finish"]
    truth = _store_verdicts(small_run, "base", "chat:vanilla", "math", "gsm8k")
    _filter(browser, "gsm8k", "correct")
    assert {item for item, _ in _shown(browser, "gsm8k")} == {item for item, r in truth.items() if r["flexible"]}
    prompt = browser.execute_script(
        "return document.querySelector('#sample-list .sample details.prompt pre').textContent")
    first = next(iter(_shown(browser, "gsm8k")))[0]
    assert prompt.startswith("[INST] ") and prompt.endswith(" [/INST]") and "Question: " in prompt
    stored = {json.loads(r)["prompt"] for (r,) in db.execute("SELECT row FROM samples WHERE item_id = ?", (first,))}
    assert prompt in stored  # the page rebuilds the exact rendered prompt
    assert console_problems(browser) == []


def test_each_comparison_lists_the_requests_that_differ_with_both_responses(browser, small_run):
    _open(browser, small_run)
    browser.find_element("id", "tab-flips").click()
    assert browser.find_element("id", "view-flips").is_displayed()
    assert not browser.find_element("id", "view-cells").is_displayed()
    labels = browser.execute_script("return Array.from(document.querySelectorAll('#cmp-select option'))"
                                    ".map(o => [o.value, o.textContent])")
    assert not any("replies cut" in text for _, text in labels)  # a diagnostic is shown, not tested
    value = next(v for v, text in labels if text.startswith("harmful: attack success (keywords) · PTST vs same"))
    _select(browser, "cmp-select", value)
    a = _store_verdicts(small_run, "chat:vanilla", "chat:llama", "harmful", "refusal-keywords")
    b = _store_verdicts(small_run, "chat:llama", "chat:llama", "harmful", "refusal-keywords")
    differ = {item for item in a if a[item]["refused"] != b[item]["refused"]}
    assert differ
    flips = browser.execute_script(
        "return Array.from(document.querySelectorAll('#flip-list .flip')).map(f => [f.dataset.id, "
        "Array.from(f.querySelectorAll('.side')).map(s => s.querySelector('pre.output').textContent)])")
    assert {item for item, _ in flips} == differ
    for item, sides in flips:
        assert sides == [a[item]["output"], b[item]["output"]]
    _select(browser, "flip-filter", "no → yes")  # attack success in B only
    shown = browser.execute_script("return Array.from(document.querySelectorAll('#flip-list .flip'))"
                                   ".map(f => f.dataset.id)")
    assert set(shown) == {item for item in differ if a[item]["refused"] and not b[item]["refused"]}
    assert console_problems(browser) == []


def test_hostile_text_from_models_and_data_stays_text(browser, small_run):
    page = (small_run / "report.html").read_text(encoding="utf-8")
    for payload in PAYLOADS[:2]:
        assert payload not in page
    assert page.count("<script") == 2  # the samples' JSON block and the browser's own script
    assert "<title>browser &lt;test&gt;</title>" in page
    _open(browser, small_run)
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.execute_script("return document.querySelectorAll('#injected-bold, img[src=\"x\"]').length") == 0
    first = browser.execute_script("return document.querySelector('#sample-list .sample pre.input').textContent")
    assert first.startswith(PAYLOADS[0])
    output = browser.execute_script("return document.querySelector('#sample-list .sample pre.output').textContent")
    assert output.endswith(" ".join(PAYLOADS))  # every character as the model wrote it, the emoji included
    assert console_problems(browser) == []


@pytest.fixture(scope="module")
def big_runs(tmp_path_factory) -> tuple[Path, Path]:
    """20,004 samples (12 cells of 1,667) with 400-character replies: once with everything embedded, once with a
    3 MB budget."""
    base = tmp_path_factory.mktemp("big")
    full = write_store(base / "full", harmful=1667, math=1667, pad=400)
    capped = base / "capped"
    capped.mkdir()
    shutil.copy(full / "store.sqlite", capped / "store.sqlite")
    write_report(full)
    write_report(capped, sample_budget=3_000_000)
    return full, capped


@pytest.mark.slow  # two 20,000-sample reports in Chromium
def test_a_20000_sample_study_renders_one_page_at_a_time(browser, big_runs):
    full, _ = big_runs
    assert not (full / "report-samples.jsonl").exists()
    _open(browser, full)
    assert console_problems(browser) == []
    assert browser.execute_script("return JSON.parse(document.getElementById('ptst-samples').textContent)"
                                  ".samples.length") == 20004
    first = [item for item, _ in _shown(browser, "finish")]
    assert len(first) == 50 and len(browser.find_elements("css selector", ".sample")) == 50
    browser.find_element("id", "sample-next").click()
    second = [item for item, _ in _shown(browser, "finish")]
    assert len(second) == 50 and not set(first) & set(second)
    assert "page 2 of 34" in browser.find_element("id", "sample-page").text
    _filter(browser, "refusal-keywords", "refused")
    count = browser.find_element("id", "sample-count").text
    truth = _store_verdicts(full, "base", "chat:vanilla", "harmful", "refusal-keywords")
    assert count.startswith(f"{sum(r['refused'] for r in truth.values())} of 1667 samples match")
    assert console_problems(browser) == []


@pytest.mark.slow  # two 20,000-sample reports in Chromium
def test_past_the_budget_the_rest_goes_to_a_linked_jsonl(browser, big_runs):
    _, capped = big_runs
    page = (capped / "report.html").read_text(encoding="utf-8")
    assert len(page) < 5_000_000 and '<a href="report-samples.jsonl">' in page
    _open(browser, capped)
    doc = browser.execute_script("return JSON.parse(document.getElementById('ptst-samples').textContent)")
    rest = [json.loads(line) for line in (capped / "report-samples.jsonl").read_text(encoding="utf-8").splitlines()]
    embedded = {(doc["cells"][s[0]]["train"], doc["cells"][s[0]]["test"], doc["cells"][s[0]]["eval"], s[1])
                for s in doc["samples"]}
    left = {(r["cell"]["train"], r["cell"]["test"], r["cell"]["eval"], r["id"]) for r in rest}
    assert len(embedded) + len(left) == 20004 and not embedded & left
    # each comparison keeps some of its differing requests, each cell some of its samples, none all of them
    assert all(c["flips"] for c in doc["comparisons"] if c["left_out"])
    assert any(c["left_out"] for c in doc["comparisons"])
    assert all(0 < cell["shown"] < cell["n"] for cell in doc["cells"])
    for c in doc["comparisons"]:
        for a, b, _, _ in c["flips"]:
            assert doc["samples"][a][1] == doc["samples"][b][1]  # both sides of a request are there
    assert "only in report-samples.jsonl" in browser.find_element("id", "sample-count").text
    assert console_problems(browser) == []
