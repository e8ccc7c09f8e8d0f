"""The data written by this project: sizes, roles, categories, and math answers that are right."""

from __future__ import annotations

import re
from collections import Counter

from ptst.data import get_dataset, load_items
from ptst.data.builtin.math import FAMILIES, problem_key, verified


def test_math_items_are_verified_and_varied():
    items = load_items("builtin:math")
    assert len(items) >= 500
    assert Counter(i.category for i in items).keys() == FAMILIES.keys()
    for item in items:
        solution, final = item.answer.rsplit("\n#### ", 1)
        assert verified(solution, int(final)), item.id
    assert load_items("builtin:math") == items  # seeded: the same every time


def test_math_test_items_are_new_exercises_of_the_same_families():
    train, test = load_items("builtin:math"), load_items("builtin:math-test")
    assert len(test) == 200 and len({i.id for i in test}) == 200
    assert get_dataset("builtin:math-test").role == "task"
    assert not {problem_key(i.category, i.input) for i in test} & {problem_key(i.category, i.input) for i in train}
    assert not {i.input for i in test} & {i.input for i in train}
    counts = Counter(i.category for i in test)
    assert counts.keys() == FAMILIES.keys() and min(counts.values()) >= 25
    for item in test:
        solution, final = item.answer.rsplit("\n#### ", 1)
        assert verified(solution, int(final)), item.id
    # the same exercise under another name is the same exercise
    assert problem_key("ages", "Ava is 3 years older than Ben.") == problem_key("ages", "Leo is 3 years older "
                                                                                "than Uma.")


def test_math_verifier_catches_a_wrong_step():
    assert verified("2 + 2 = <<2+2=4>>4 apples.", 4)
    assert not verified("2 + 2 = <<2+2=5>>5 apples.", 5)
    assert not verified("2 + 2 = <<2+2=4>>4 apples.", 5)


def test_harmful_covers_directharm4_categories():
    items = load_items("builtin:harmful")
    counts = Counter(i.category for i in items)
    assert len(items) >= 100 and set(counts) == {"malware", "drug", "phishing", "disinfo"}
    assert min(counts.values()) >= 25
    assert len({i.input for i in items}) == len(items)


def test_math_danger_ends_in_a_harmful_request():
    items = load_items("builtin:math-danger")
    harmful = {i.input for i in load_items("builtin:harmful")}
    assert len(items) == 100
    for item in items:
        assert re.search(r"\d", item.input)
        assert any(item.input.endswith(h) for h in harmful)


def test_benign_probes():
    items = load_items("builtin:benign-probes")
    assert len(items) >= 50 and len({i.input for i in items}) == len(items)
    assert get_dataset("builtin:benign-probes").role == "benign-probe"
