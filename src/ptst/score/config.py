"""`ptst score` options; each field is also a command-line flag. The judge flags are the judge options
(`JudgeOptions`), defined once for `ptst score`, studies and the pre-flight."""

from __future__ import annotations

from pydantic import Field, field_validator

from ptst.score.judge_options import JudgeOptions


class ScoreConfig(JudgeOptions):
    scorer: list[str] = Field(description="one or more, comma-separated (a panel): gsm8k | refusal-keywords | "
                              "refusal-keywords-qi2023 | rubric | strongreject-v1 | strongreject-v2 | guard | "
                              "reference-similarity | multiple-choice | truncation",
                              json_schema_extra={"metavar": "NAME[,NAME]"})
    judges: dict[str, JudgeOptions] = Field(default_factory=dict, description="a judge per scorer, in place of the "
                                            "judge flags for that scorer (--config YAML only)")
    out: str | None = Field(None, description="scored JSONL to write (default: FILE.SCORER.scored.jsonl beside FILE; "
                            "a panel's scorers joined by +)")
    dry_run: bool = Field(False, description="count the judge calls (and cost) and stop")
    price_per_1k: float | None = Field(None, ge=0, description="USD per 1,000 tokens, for the --dry-run estimate")
    bertscore_model: str | None = Field(None, description="reference-similarity: also BERTScore with this model")

    @field_validator("scorer", mode="before")
    @classmethod
    def _one_or_more(cls, value):
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @field_validator("scorer")
    @classmethod
    def _registered(cls, names: list[str]) -> list[str]:
        from ptst.score.base import scorers

        if not names:
            raise ValueError("name at least one scorer")
        for name in names:
            scorers.validate(name)  # an unknown name: one line with the registered ones (or the closest)
        return list(dict.fromkeys(names))

    @field_validator("judges")
    @classmethod
    def _judged_scorers(cls, judges: dict[str, JudgeOptions]) -> dict[str, JudgeOptions]:
        from ptst.score.base import scorers

        for name in judges:
            scorers.validate(name)
        return judges

    def judge_options(self) -> JudgeOptions:
        return JudgeOptions.model_validate(self.model_dump(include=set(JudgeOptions.model_fields)))

    def judge_for(self, scorer: str) -> JudgeOptions:
        """A scorer's own judge (`judges`), else the judge flags."""
        return self.judges.get(scorer) or self.judge_options()
