"""Build scorers by name, the one way `ptst score`, studies and the pre-flight do it: a scorer that declares
`needs_judge` is handed a judge backend built from its judge options (`ptst.score.judge_options`); one backend per
distinct judge, shared by every scorer that uses it, so a local judge model is loaded once per run."""

from __future__ import annotations

from collections.abc import Callable

from ptst.core.errors import PtstError
from ptst.score.base import Scorer, scorers
from ptst.score.judge_options import JudgeOptions, build_judge

# Options that change how a judge scorer prompts, not which backend answers: left out of a backend's identity.
_SCORER_SIDE = {"rubric", "max_tokens"}


class ScorerSet:
    """Scorers built on first use and kept. `judge_for(name)` gives the judge options of a scorer that needs a
    judge (None: no judge configured for it)."""

    def __init__(self, judge_for: Callable[[str], JudgeOptions | None], *, progress: bool = True, **options):
        self.judge_for, self.progress, self.options = judge_for, progress, options
        self._scorers: dict[str, Scorer] = {}
        self._backends: dict[str, object] = {}

    def get(self, name: str) -> Scorer:
        if name not in self._scorers:
            self._scorers[name] = self._build(name)
        return self._scorers[name]

    def factory(self, name: str):
        return scorers.get(name)

    def judge_of(self, name: str):
        """The judge backend scorer `name` uses (None for a scorer without one)."""
        return getattr(self.get(name), "judge", None)

    def _build(self, name: str) -> Scorer:
        factory = scorers.get(name)
        if not getattr(factory, "needs_judge", False):
            return factory(progress=self.progress, **self.options)
        options = self.judge_for(name)
        if options is None or not options.configured:
            raise PtstError(f"scorer {name} needs a judge: --base-url URL --judge-model NAME, or --judge-local MODEL "
                            f"(in a study: judge: {{...}} or judges: {{{name}: {{...}}}})")
        key = options.model_dump_json(exclude=_SCORER_SIDE)
        if key not in self._backends:
            self._backends[key] = build_judge(options)
        return factory(judge=self._backends[key], judge_options=options, progress=self.progress, **self.options)
