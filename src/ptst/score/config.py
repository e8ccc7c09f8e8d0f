"""`ptst score` options; each field is also a command-line flag."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ScoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scorer: str = Field(description="gsm8k | refusal-keywords | refusal-keywords-qi2023 | rubric | "
                        "reference-similarity | multiple-choice")
    out: str | None = Field(None, description="scored JSONL to write (default: FILE.SCORER.scored.jsonl beside FILE)")
    base_url: str | None = Field(None, description="rubric judge: OpenAI-compatible endpoint, e.g. "
                                 "http://127.0.0.1:8000/v1")
    judge_model: str | None = Field(None, description="rubric judge: model name the endpoint serves")
    judge_local: str | None = Field(None, description="rubric judge: a local model instead (offline)",
                                    json_schema_extra={"metavar": "MODEL"})
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key (never "
                             "logged)")
    rubric: str | None = Field(None, description="qi2023 (the paper's judge, Qi et al. 2023), ptst-short (default) "
                               "or a file taken unchanged: two %s slots, or {instruction} and {response}",
                               json_schema_extra={"metavar": "NAME|FILE"})
    concurrency: int = Field(8, ge=1, description="most judge requests in flight")
    max_retries: int = Field(4, ge=0, description="retries per request on 429/5xx/timeouts")
    timeout: float = Field(60.0, gt=0, description="seconds per judge request")
    backoff_base: float = Field(0.5, ge=0, description="first retry delay in seconds")
    judge_max_tokens: int | None = Field(None, ge=1, description="most tokens per judge reply (default: the "
                                         "rubric's own, 4096 for qi2023, 256 otherwise)")
    cache: str | None = Field(None, description="judge cache (default: $PTST_HOME/judge_cache.sqlite)",
                              json_schema_extra={"metavar": "FILE"})
    no_cache: bool = Field(False, description="neither read nor write the judge cache")
    dry_run: bool = Field(False, description="count the judge calls (and cost) and stop")
    price_per_1k: float | None = Field(None, ge=0, description="USD per 1,000 tokens, for the --dry-run estimate")
    bertscore_model: str | None = Field(None, description="reference-similarity: also BERTScore with this model")

    @field_validator("scorer")
    @classmethod
    def _registered(cls, name: str) -> str:
        from ptst.score.base import scorers

        return scorers.validate(name)
