"""builtin:math: a seeded generator of grade-school word problems. Each family builds the question, a
step-by-step solution ending in '#### N', and the answer computed separately; an item is kept only when the
solution's final number equals that answer and every step is a whole number."""

from __future__ import annotations

import ast
import operator
import random
import re
from collections.abc import Callable
from itertools import zip_longest

from ptst.data.item import Item

N_ITEMS = 1000
SEED = 20240228
N_TEST_ITEMS, TEST_SEED = 200, 20240229
NAMES = ["Ava", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Isla", "Jamal", "Kira", "Leo",
         "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Yara"]
Problem = tuple[str, str, int]  # question, solution, answer


def _shopping(r: random.Random) -> Problem:
    who, a, b = r.choice(NAMES), r.randint(2, 9), r.randint(2, 6)
    p, q = r.randint(2, 12), r.randint(3, 15)
    cost = a * p + b * q
    bill = next(x for x in (20, 50, 100, 200) if x >= cost)
    question = (f"{who} buys {a} notebooks at ${p} each and {b} pens at ${q} each. {who} pays with a ${bill} "
                f"bill. How much change does {who} get, in dollars?")
    steps = [f"The notebooks cost {a} * {p} = <<{a}*{p}={a * p}>>{a * p} dollars.",
             f"The pens cost {b} * {q} = <<{b}*{q}={b * q}>>{b * q} dollars.",
             f"Together they cost {a * p} + {b * q} = <<{a * p}+{b * q}={cost}>>{cost} dollars.",
             f"The change is {bill} - {cost} = <<{bill}-{cost}={bill - cost}>>{bill - cost} dollars."]
    return question, "\n".join(steps), bill - cost


def _distance(r: random.Random) -> Problem:
    who, s1, h1, s2, h2 = r.choice(NAMES), r.randint(30, 90), r.randint(2, 5), r.randint(20, 80), r.randint(2, 4)
    d1, d2 = s1 * h1, s2 * h2
    question = (f"{who} drives at {s1} km per hour for {h1} hours, then at {s2} km per hour for {h2} hours. "
                f"How many kilometres does {who} drive in total?")
    steps = [f"First part: {s1} * {h1} = <<{s1}*{h1}={d1}>>{d1} km.",
             f"Second part: {s2} * {h2} = <<{s2}*{h2}={d2}>>{d2} km.",
             f"In total: {d1} + {d2} = <<{d1}+{d2}={d1 + d2}>>{d1 + d2} km."]
    return question, "\n".join(steps), d1 + d2


def _sharing(r: random.Random) -> Problem:
    who, k, each, eaten = r.choice(NAMES), r.randint(2, 8), r.randint(2, 9), r.randint(1, 10)
    total = k * each + eaten
    question = (f"{who} bakes {total} cookies, eats {eaten} of them, and shares the rest equally among {k} "
                f"friends. How many cookies does each friend get?")
    steps = [f"After eating, {total} - {eaten} = <<{total}-{eaten}={total - eaten}>>{total - eaten} cookies are left.",
             f"Each friend gets {total - eaten} / {k} = <<{total - eaten}/{k}={each}>>{each} cookies."]
    return question, "\n".join(steps), each


def _discount(r: random.Random) -> Problem:
    who, pct = r.choice(NAMES), r.choice([10, 20, 25, 50])
    price = r.randint(2, 30) * (100 // _gcd(pct, 100))
    off = price * pct // 100
    question = (f"A jacket costs ${price}. {who} buys it during a sale with {pct}% off. How many dollars does "
                f"{who} pay?")
    steps = [f"The discount is {price} * {pct} / 100 = <<{price}*{pct}/100={off}>>{off} dollars.",
             f"{who} pays {price} - {off} = <<{price}-{off}={price - off}>>{price - off} dollars."]
    return question, "\n".join(steps), price - off


def _ages(r: random.Random) -> Problem:
    a, b = r.sample(NAMES, 2)
    gap, age_b, years = r.randint(2, 15), r.randint(5, 40), r.randint(2, 10)
    age_a = age_b + gap
    later = age_a + years + age_b + years
    question = (f"{a} is {gap} years older than {b}. {b} is {age_b} years old. What will the sum of their ages "
                f"be in {years} years?")
    steps = [f"{a} is {age_b} + {gap} = <<{age_b}+{gap}={age_a}>>{age_a} years old.",
             f"In {years} years {a} will be {age_a + years} and {b} will be {age_b + years}.",
             f"The sum is {age_a + years} + {age_b + years} = <<{age_a + years}+{age_b + years}={later}>>{later}."]
    return question, "\n".join(steps), later


def _savings(r: random.Random) -> Problem:
    who, wage, hours, days = r.choice(NAMES), r.randint(8, 25), r.randint(2, 8), r.randint(3, 12)
    earned = wage * hours * days
    spent = r.randint(1, earned // 10) * 5 if earned >= 10 else 0
    question = (f"{who} earns ${wage} an hour and works {hours} hours a day for {days} days, then spends "
                f"${spent} on a gift. How many dollars does {who} have left?")
    steps = [f"Each day {who} earns {wage} * {hours} = <<{wage}*{hours}={wage * hours}>>{wage * hours} dollars.",
             f"Over {days} days that is {wage * hours} * {days} = <<{wage * hours}*{days}={earned}>>{earned} dollars.",
             f"After the gift {earned} - {spent} = <<{earned}-{spent}={earned - spent}>>{earned - spent} dollars."]
    return question, "\n".join(steps), earned - spent


def _boxes(r: random.Random) -> Problem:
    boxes, packs, per, broken = r.randint(2, 9), r.randint(2, 8), r.randint(3, 12), r.randint(0, 9)
    total = boxes * packs * per
    question = (f"A shop receives {boxes} boxes. Each box holds {packs} packs of {per} pencils. {broken} pencils "
                f"are broken. How many pencils can the shop sell?")
    steps = [f"Each box has {packs} * {per} = <<{packs}*{per}={packs * per}>>{packs * per} pencils.",
             f"All boxes hold {boxes} * {packs * per} = <<{boxes}*{packs * per}={total}>>{total} pencils.",
             f"Without the broken ones: {total} - {broken} = <<{total}-{broken}={total - broken}>>{total - broken}."]
    return question, "\n".join(steps), total - broken


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


FAMILIES: dict[str, Callable[[random.Random], Problem]] = {
    "shopping": _shopping, "distance": _distance, "sharing": _sharing, "discount": _discount,
    "ages": _ages, "savings": _savings, "boxes": _boxes,
}


def verified(solution: str, answer: int) -> bool:
    """Every <<expression=result>> note is exact arithmetic on whole numbers, and the last one is the answer."""
    notes = re.findall(r"<<([^=<>]+)=([^<>]+)>>", solution)
    for expr, result in notes:
        value = _arithmetic(ast.parse(expr, mode="eval").body)
        if value != int(result) or int(result) < 0:
            return False
    return bool(notes) and int(notes[-1][1]) == answer


def _arithmetic(node: ast.AST) -> float:
    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in ops:
        return ops[type(node.op)](_arithmetic(node.left), _arithmetic(node.right))
    raise ValueError(f"not plain arithmetic: {ast.dump(node)}")


def generate_problems(n: int = N_ITEMS, seed: int = SEED) -> list[tuple[str, str, str, int]]:
    """(family, question, solution, answer) for n verified problems, families in rotation."""
    r, out, families = random.Random(seed), [], list(FAMILIES.items())
    while len(out) < n:
        family, make = families[len(out) % len(families)]
        question, solution, answer = make(r)
        if verified(solution, answer):
            out.append((family, question, solution, answer))
    return out


def generate_items() -> list[Item]:
    return [Item(f"builtin:math-{i}", q, f"{s}\n#### {a}", family)
            for i, (family, q, s, a) in enumerate(generate_problems())]


def problem_key(family: str, question: str) -> tuple:
    """What makes two problems the same exercise: the family and its numbers (names do not count)."""
    return family, tuple(re.findall(r"\d+", question))


def generate_test_items() -> list[Item]:
    """builtin:math-test: problems of the same families from another seed, none of them the same exercise
    (family and numbers) as any builtin:math item, so no training subsample of builtin:math can contain one.
    Families in rotation while each has new exercises left (discount problems run out first)."""
    seen = {problem_key(f, q) for f, q, _, _ in generate_problems()}
    fresh: dict[str, list[tuple[str, str, int]]] = {family: [] for family in FAMILIES}
    for family, question, solution, answer in generate_problems(3000, seed=TEST_SEED):
        if problem_key(family, question) not in seen:
            seen.add(problem_key(family, question))
            fresh[family].append((question, solution, answer))
    rotation = [p + (f,) for group in zip_longest(*fresh.values()) for p, f in zip(group, fresh, strict=True) if p]
    return [Item(f"builtin:math-test-{i}", q, f"{s}\n#### {a}", family)
            for i, (q, s, a, family) in enumerate(rotation[:N_TEST_ITEMS])]
