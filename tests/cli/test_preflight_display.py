"""`ptst preflight`'s table: ranked on the selection half, and every column says which half it comes from, so the
order on screen can be checked against the numbers beside it."""

from __future__ import annotations

import re

from ptst.cli.cmd_preflight import preflight_table
from ptst.cli.console import plain_table
from ptst.report.holdout import halves, held_out_ranking

BASE = "chat:no-system"


def test_the_rank_follows_the_selection_column_and_each_column_names_its_half():
    # the winner's curse on screen: chat:mpt looks best on the selection half, chat:llama is better held out
    select, held = (sorted(h) for h in halves([f"h{i}" for i in range(16)]))
    sel = {BASE: 6, "chat:llama": 4, "chat:mpt": 1}
    out = {BASE: 6, "chat:llama": 2, "chat:mpt": 6}
    asr = {t: {**{i: float(k < sel[t]) for k, i in enumerate(select)},
               **{i: float(k < out[t]) for k, i in enumerate(held)}} for t in sel}
    summary = {"model": "m", **held_out_ranking(asr, {t: {"p0": 0.0, "p1": 0.0} for t in sel}, baseline=BASE,
                                                metric="asr_keyword", max_over_refusal=0.25)}
    text = plain_table(preflight_table(summary))
    header = next(line for line in text.splitlines() if line.lstrip().startswith("rank "))
    assert "attack success (keywords), selection" in header and "attack success, held-out [95%]" in header
    assert "over-refusal, selection" in header and "over-refusal, held-out [95%]" in header
    rows = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if re.match(r"\s*\d+\s", line)]
    assert [r[1] for r in rows] == ["chat:mpt", "chat:llama", "chat:no-system (none)"]  # by the selection half
    assert [r[2] for r in rows] == ["12%", "50%", "75%"]  # the column beside the rank, in its order
    assert [r[5].split()[0] for r in rows] == ["75%", "25%", "75%"]  # held-out estimates, labelled as such
    assert "rank: on the selection half (8 harmful requests" in text and "held-out: the other half" in text
