"""The one judge options object, and the one place a judge backend is built from it.

A scorer that grades with a judge declares it (`register_scorer(..., needs_judge=True)`) and receives a backend
built from these options, as inspect-ai hands `model=` to a model-graded scorer. `ptst score` takes them as flags
(`--base-url`, `--judge-model`, `--judge-local`, ...), a study as `judge:` (and `judges: {SCORER: ...}` for a
panel of different judges), `ptst preflight` as flags; every one of them is this model.
"""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from ptst.core.errors import PtstError


class JudgeOptions(BaseModel):
    """Which model grades, where it runs, and how it is called."""

    model_config = ConfigDict(extra="forbid")
    base_url: str | None = Field(None, description="judge: OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    judge_model: str | None = Field(None, description="judge: model name the endpoint serves")
    judge_local: str | None = Field(None, description="judge: a local model instead, run by ptst's engine with no "
                                    "adapter (offline)", json_schema_extra={"metavar": "MODEL"})
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the judge's API key "
                             "(never logged)")
    rubric: str | None = Field(None, description="the rubric scorer's prompt: qi2023 (the paper's judge, Qi et al. "
                               "2023), ptst-short (default) or a file taken unchanged: two %s slots, or "
                               "{instruction} and {response}", json_schema_extra={"metavar": "NAME|FILE"})
    max_tokens: int | None = Field(None, ge=1, validation_alias=AliasChoices("max_tokens", "judge_max_tokens"),
                                   description="most tokens per judge reply (default: the instrument's own, 4096 "
                                   "for qi2023)", json_schema_extra={"flag": "--judge-max-tokens"})
    concurrency: int = Field(8, ge=1, description="most judge requests in flight")
    max_retries: int = Field(4, ge=0, description="retries per judge request on 429/5xx/timeouts")
    timeout: float = Field(60.0, gt=0, description="seconds per judge request")
    backoff_base: float = Field(0.5, ge=0, description="first retry delay in seconds")
    cache: str | None = Field(None, description="judge cache (default: $PTST_HOME/judge_cache.sqlite)",
                              json_schema_extra={"metavar": "FILE"})
    no_cache: bool = Field(False, description="neither read nor write the judge cache")

    @property
    def configured(self) -> bool:
        return bool(self.base_url or self.judge_local)

    def describe(self) -> str:
        """The judge for messages: its endpoint (credentials redacted) or its local model."""
        from ptst.core.redact import redact_url

        return redact_url(self.base_url) or self.judge_local or "no judge"

    def check(self, where: str) -> None:
        """What can be checked offline, before any work: the endpoint's settings, a local model's name, the
        rubric. `where` prefixes each message (a config key such as `study.yaml: judge` or the flags)."""
        from ptst.score.rubric import check_rubric

        if self.base_url and self.judge_local:
            raise PtstError(f"{where}: give either base_url (an endpoint) or judge_local (a local model), not both")
        if self.base_url and not self.judge_model:
            raise PtstError(f"{where}.judge_model: needed with base_url (the model name the endpoint serves)")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise PtstError(f"{where}.base_url: {self.describe()!r} is not an http:// or https:// URL")
        if self.judge_local and self.judge_local.startswith("embedded:"):
            from ptst.models.embedded import embedded

            _named(f"{where}.judge_local", embedded.get, self.judge_local)
        _named(f"{where}.rubric", check_rubric, self.rubric)


def _named(where: str, check, name):
    try:
        return check(name)
    except PtstError as err:
        raise PtstError(f"{where}: {err}") from None


def build_judge(options: JudgeOptions):
    """THE judge backend for `options` (an endpoint or a local model, with the judge cache), or None when no judge
    is configured."""
    from ptst.core.paths import ptst_home
    from ptst.score.judges import LocalJudge, OpenAIJudge
    from ptst.store.judge_cache import JudgeCache

    if options.base_url and options.judge_local:
        raise PtstError("give either --base-url (an endpoint) or --judge-local (a local model), not both")
    if options.base_url and not options.judge_model:
        raise PtstError("--base-url needs --judge-model NAME (the model name the endpoint serves)")
    if not options.configured:
        return None
    cache = None if options.no_cache else JudgeCache(options.cache or ptst_home() / "judge_cache.sqlite")
    if options.base_url:
        return OpenAIJudge(options.base_url, options.judge_model, api_key_env=options.api_key_env,  # type: ignore
                           concurrency=options.concurrency, max_retries=options.max_retries, timeout=options.timeout,
                           backoff_base=options.backoff_base, cache=cache)
    return LocalJudge(options.judge_local, cache=cache)  # type: ignore[arg-type]
