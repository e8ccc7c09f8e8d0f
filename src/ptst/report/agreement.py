"""How far the judges agree: for every pair of scorers that give a per-sample attack-success verdict (0/1), on the
samples both scored, the share of samples where they agree (Wilson 95% interval) and Cohen's kappa (agreement
beyond what their rates give by chance; 95% percentile bootstrap over those samples, seeded). Hand labels, where
present, are two more raters: `complied or partly` and `complied` (attack success counting partial compliance, and
full compliance only), each compared with every scorer.

Verdicts come from a scored samples file (`ptst score --scorer a,b,c`), a run directory (every active final cell),
or an audit labels file (`ptst audit sample`, its key joined back). A sample a judge left unscored or declined to
grade has no verdict from that judge and is left out of that judge's pairs; the counts say how many were compared.
All intervals are request-level: they cover the choice of samples, not of judges' prompts or seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.io import read_jsonl_rows
from ptst.score.metrics import wilson
from ptst.store.study_store import StudyStore

HAND = ("hand labels: complied or partly", "hand labels: complied")
RESAMPLES = 2000


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Cohen's kappa of two binary raters on the same items; None when chance agreement is 1 (both constant and
    equal: kappa is undefined)."""
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    chance = pa * pb + (1 - pa) * (1 - pb)
    return None if chance >= 1 else (observed - chance) / (1 - chance)


def kappa_interval(a: Sequence[int], b: Sequence[int], *, resamples: int = RESAMPLES,
                   seed: int = 0) -> tuple[float, float] | None:
    """95% percentile bootstrap interval of kappa over the items (resamples where kappa is undefined are left
    out; None when fewer than half are defined)."""
    import numpy as np

    n = len(a)
    if n == 0:
        return None
    x, y, rng = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool), np.random.default_rng(seed)
    observed, pa, pb = (np.empty(resamples) for _ in range(3))
    step = max(1, 2_000_000 // n)  # resamples drawn at once: memory stays bounded for large panels
    for start in range(0, resamples, step):
        picks = rng.integers(0, n, size=(min(step, resamples - start), n))
        xa, ya = x[picks], y[picks]
        rows = slice(start, start + len(picks))
        observed[rows], pa[rows], pb[rows] = (xa == ya).mean(axis=1), xa.mean(axis=1), ya.mean(axis=1)
    chance = pa * pb + (1 - pa) * (1 - pb)
    defined = chance < 1
    if defined.sum() < resamples / 2:
        return None
    kappas = np.sort((observed[defined] - chance[defined]) / (1 - chance[defined]))
    return float(kappas[int(0.025 * len(kappas))]), float(kappas[min(len(kappas) - 1, int(0.975 * len(kappas)))])


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    n: int  # samples both rated
    agree: int
    kappa: float | None
    kappa_ci: tuple[float, float] | None
    rate_a: float
    rate_b: float

    @property
    def agreement(self) -> float:
        return self.agree / self.n if self.n else float("nan")

    @property
    def agreement_ci(self) -> tuple[float, float]:
        return wilson(self.agree, self.n)


def pairwise(verdicts: dict[str, dict[str, int]], *, hand: Sequence[str] = HAND) -> list[Pair]:
    """Every pair of raters (`verdicts`: rater -> sample key -> 0/1) on the samples both rated; hand-label raters
    are compared with the judges, not with each other."""
    out = []
    for x, y in combinations(list(verdicts), 2):
        if x in hand and y in hand:
            continue
        keys = sorted(set(verdicts[x]) & set(verdicts[y]))
        a, b = [verdicts[x][k] for k in keys], [verdicts[y][k] for k in keys]
        n = len(keys)
        out.append(Pair(x, y, n, sum(p == q for p, q in zip(a, b, strict=True)), cohen_kappa(a, b),
                        kappa_interval(a, b) if n else None, sum(a) / n if n else float("nan"),
                        sum(b) / n if n else float("nan")))
    return out


# --- where verdicts come from ------------------------------------------------------------------------------------

def _verdict(result) -> int | None:
    if not isinstance(result, dict) or result.get("status", "scored") != "scored":
        return None
    value = result.get("asr")
    return int(value) if value in (0, 1, True, False) else None


def from_scored_file(path: str | Path) -> dict[str, dict[str, int]]:
    """Verdicts per scorer from a scored samples file (rows with `scores.NAME.asr`), keyed by line number."""
    verdicts: dict[str, dict[str, int]] = {}
    for n, row in enumerate(read_jsonl_rows(path), start=1):
        if not isinstance(row, dict) or not isinstance(row.get("scores"), dict):
            raise PtstError(f"{path}: line {n}: no 'scores' object (score it first: ptst score FILE --scorer ...)")
        for name, result in row["scores"].items():
            value = _verdict(result)
            if value is not None:
                verdicts.setdefault(name, {})[str(n)] = value
    return verdicts


def from_run(run_dir: str | Path) -> dict[str, dict[str, int]]:
    """Verdicts per scorer over every active final cell of a run, keyed by cell and sample id."""
    store = StudyStore(run_dir)
    try:
        verdicts: dict[str, dict[str, int]] = {}
        evals = {e["name"]: e for e in store.config().get("evals", [])}
        for cell in store.active_cells():
            if cell["step"] is not None or cell["eval_name"] not in evals:
                continue
            for name in evals[cell["eval_name"]]["scorers"]:
                for item, result in store.scores(cell["id"], name).items():
                    value = _verdict(result)
                    if value is not None:
                        verdicts.setdefault(name, {})[f"{cell['id']}/{item}"] = value
        return verdicts
    finally:
        store.close()


def from_labels(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Verdicts per scorer column (`asr:NAME`) of audit rows, and the hand labels as two raters."""
    verdicts: dict[str, dict[str, int]] = {}
    for row in rows:
        key = str(row["sample"])
        for col, value in row.items():
            if col and col.startswith("asr:") and str(value) in ("0", "1"):
                verdicts.setdefault(col.removeprefix("asr:"), {})[key] = int(value)
        verdicts.setdefault(HAND[0], {})[key] = int(row["label"] != "refused")
        verdicts.setdefault(HAND[1], {})[key] = int(row["label"] == "complied")
    return verdicts


def load_verdicts(source: str | Path, key: str | Path | None = None) -> tuple[dict[str, dict[str, int]], str]:
    """Verdicts from a run directory, a scored samples file (.jsonl) or a labels file (.csv), and what it was."""
    from ptst.report.audit import audit_rows

    p = Path(source)
    if p.is_dir():
        if not (p / "store.sqlite").is_file():
            raise PtstError(f"{source}: not a study run directory (no store.sqlite)")
        return from_run(p), f"run {source}"
    if not p.is_file():
        raise PtstError(f"{source}: no such file or run directory")
    if p.suffix == ".jsonl":
        return from_scored_file(p), f"scored samples {source}"
    rows, _ = audit_rows(p, key)
    return from_labels(rows), f"labels {source}"


# --- the table ---------------------------------------------------------------------------------------------------

def _ci(ci) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "n/a"


def pairwise_markdown(verdicts: dict[str, dict[str, int]], pairs: list[Pair], what: str) -> str:
    counts = ", ".join(f"`{name}` {len(v)}" for name, v in verdicts.items())
    lines = [f"## Judge agreement ({what})", "",
             f"Samples with a verdict per rater: {counts}. Each pair is compared on the samples both rated "
             "(unscored and declined samples have no verdict). Agreement: share of those samples with the same "
             "verdict, Wilson 95%. Cohen's kappa: agreement beyond chance, 95% percentile bootstrap over the "
             f"samples ({RESAMPLES} resamples, seed 0). Both intervals are request-level.", ""]
    if not pairs:
        return "\n".join(lines + ["Fewer than two raters with verdicts: nothing to compare.", ""])
    lines += ["| rater A | rater B | n | attack success A / B | agreement [95%] | Cohen's kappa [95%] |",
              "|---|---|---|---|---|---|"]
    for p in pairs:
        if not p.n:
            lines.append(f"| {p.a} | {p.b} | 0 | n/a | n/a | n/a |")
            continue
        kappa = "n/a (both constant)" if p.kappa is None else f"{p.kappa:.2f} {_ci(p.kappa_ci)}"
        lines.append(f"| {p.a} | {p.b} | {p.n} | {100 * p.rate_a:.1f}% / {100 * p.rate_b:.1f}% | "
                     f"{100 * p.agreement:.1f}% [{100 * p.agreement_ci[0]:.1f}, {100 * p.agreement_ci[1]:.1f}] | "
                     f"{kappa} |")
    return "\n".join(lines) + "\n"


def agreement_json(pairs: list[Pair]) -> list[dict]:
    return [{"a": p.a, "b": p.b, "n": p.n, "agreement": p.agreement, "agreement_ci": list(p.agreement_ci),
             "kappa": p.kappa, "kappa_ci": list(p.kappa_ci) if p.kappa_ci else None, "rate_a": p.rate_a,
             "rate_b": p.rate_b} for p in pairs]

