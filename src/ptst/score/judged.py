"""What every judge-graded scorer shares: send one request per sample to the judge it was given, read each reply
with the scorer's parser, and give every sample one status:

- `scored`: a trusted verdict was read (`ptst.score.verdicts`);
- `unscored`: the judge answered but no trusted verdict could be read (kept raw);
- `judge_refused`: the judge declined to grade (kept raw);
- `failed`: every call failed (not stored in a study, so a rerun retries it).

Only `scored` samples enter a verdict's rate or mean; the other buckets are counted and reported, never read as
safe or unsafe. Each result records the judge model, its backend, the hash of the prompt it saw and its raw reply.
"""

from __future__ import annotations

from collections.abc import Sequence

from ptst.score.base import scorers
from ptst.score.judges import JudgeBackend, JudgeRequest
from ptst.score.metrics import Metric, rate
from ptst.score.verdicts import GradedTexts, declined

STATUSES = ("scored", "unscored", "judge_refused", "failed")


class JudgedScorer:
    """Subclasses set `name`, `max_tokens` (the instrument's own reply limit; None sends none) and `verdict_keys`
    (the result fields a verdict fills, None otherwise), and implement `request` and `parse`."""

    name: str
    max_tokens: int | None
    verdict_keys: tuple[str, ...] = ("asr",)
    expects = "a verdict"  # what `parse` reads, for the message when no reply held one

    def __init__(self, judge: JudgeBackend, *, max_tokens: int | None = None, progress: bool = True):
        self.judge, self.progress = judge, progress
        if max_tokens is not None:
            self.max_tokens = max_tokens

    def request(self, instruction: str, response: str) -> JudgeRequest:
        raise NotImplementedError

    def parse(self, reply: str, graded: GradedTexts) -> dict | None:
        """The verdict fields read from `reply`, or None when no trusted verdict is there."""
        raise NotImplementedError

    def identity(self) -> dict:
        """What names the instrument in every result (e.g. the rubric and its hash)."""
        return {}

    @property
    def settings(self) -> dict:
        """What decides the scores beside the scorer's name (a scored file's summary records it)."""
        return {**self.identity(), "judge_model": self.judge.model_name}

    def summarize(self, results: Sequence[dict | None]) -> list[Metric]:
        """The summary registered with the scorer's name."""
        return scorers.get(self.name).summarize(results)

    def requests(self, rows: Sequence[dict]) -> list[JudgeRequest]:
        return [self.request(r.get("input") or "", r["output"]) for r in rows]

    def score(self, rows: Sequence[dict]) -> list[dict | None]:
        requests = self.requests(rows)
        replies = self.judge.judge_all(requests, max_tokens=self.max_tokens, progress=self.progress)
        effective = getattr(self.judge, "effective_max_tokens", lambda m: m)(self.max_tokens)
        out: list[dict | None] = []
        for req, reply in zip(requests, replies, strict=True):
            base = {"judge_model": self.judge.model_name, "judge_backend": self.judge.kind, **self.identity(),
                    "prompt_hash": reply.prompt_hash, "max_tokens": effective, "attempts": reply.attempts,
                    "cached": reply.cached}
            empty = dict.fromkeys(self.verdict_keys)
            if reply.text is None:
                out.append({**base, "status": "failed", **empty, "error": reply.error})
                continue
            graded = GradedTexts.of(req.instruction, req.response)
            verdict = None if reply.refused else self.parse(reply.text, graded)
            if verdict is not None:
                out.append({**base, "status": "scored", **empty, **verdict, "raw": reply.text})
            elif reply.refused or declined(reply.text, graded):
                out.append({**base, "status": "judge_refused", **empty, "raw": reply.text})
            else:
                out.append({**base, "status": "unscored", **empty, "raw": reply.text})
        return out


def scored_results(results: Sequence[dict | None]) -> list[dict]:
    return [r for r in results if r and r.get("status") == "scored"]


def bucket_rates(results: Sequence[dict | None], unscored: str, refused: str) -> list[Metric]:
    """The share of samples whose reply could not be read, and the share the judge declined to grade (of all
    samples the scorer saw)."""
    status = [(r or {}).get("status") for r in results]
    return [rate(unscored, [s == "unscored" for s in status]), rate(refused, [s == "judge_refused" for s in status])]
