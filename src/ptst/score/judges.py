"""Judge backends for the rubric scorer: any OpenAI-compatible chat endpoint (through the official `openai`
client, async, bounded concurrency, bounded retries with backoff and jitter) and a local Hugging Face model.
Both read and fill the judge cache, so a second run over the same samples makes no calls."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ptst.core.errors import PtstError
from ptst.core.progress import ProgressBar
from ptst.store.judge_cache import JudgeCache, judge_key

Prompt = tuple[str, str, str]  # instruction, response, filled rubric


@dataclass
class JudgeReply:
    text: str | None  # None when every attempt failed
    attempts: int = 0
    cached: bool = False
    error: str | None = None


class _CachedJudge:
    """`max_tokens` None until set: the rubric scorer gives it the rubric's own limit (4096 for qi2023)."""

    model_name: str
    max_tokens: int | None

    def __init__(self, cache: JudgeCache | None):
        self.cache = cache

    @property
    def decoding(self) -> dict:
        return {"temperature": 0.0, "max_tokens": self.max_tokens}

    def _key(self, p: Prompt, rubric_hash: str) -> str:
        return judge_key(self.model_name, rubric_hash, self.decoding, p[0], p[1])

    def cached_replies(self, prompts: Sequence[Prompt], rubric_hash: str) -> list[JudgeReply | None]:
        if self.cache is None:
            return [None] * len(prompts)
        found = [self.cache.get(self._key(p, rubric_hash)) for p in prompts]
        return [JudgeReply(t, 0, True) if t is not None else None for t in found]

    def _store(self, p: Prompt, rubric_hash: str, reply: JudgeReply) -> None:
        if self.cache is not None and reply.text is not None:
            self.cache.put(self._key(p, rubric_hash), self.model_name, rubric_hash, reply.text)


class OpenAIJudge(_CachedJudge):
    """An OpenAI-compatible endpoint. The API key is read from the environment variable `api_key_env` and is
    never written anywhere; servers that need no key get a placeholder."""

    RETRY_STATUS = frozenset({408, 409, 429})

    def __init__(self, base_url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8,
                 max_retries: int = 4, timeout: float = 60.0, backoff_base: float = 0.5, backoff_max: float = 30.0,
                 max_tokens: int | None = None, cache: JudgeCache | None = None):
        super().__init__(cache)
        self.base_url, self.model_name, self.api_key_env = base_url, model, api_key_env
        self.concurrency, self.max_retries, self.timeout = concurrency, max_retries, timeout
        self.backoff_base, self.backoff_max, self.max_tokens = backoff_base, backoff_max, max_tokens
        self.calls = 0

    def judge_all(self, prompts: Sequence[Prompt], *, rubric_hash: str, progress: bool = True) -> list[JudgeReply]:
        replies = self.cached_replies(prompts, rubric_hash)
        todo = [i for i, r in enumerate(replies) if r is None]
        if todo:
            fresh = asyncio.run(self._run([prompts[i] for i in todo], rubric_hash, progress))
            for i, reply in zip(todo, fresh, strict=True):
                replies[i] = reply
        return replies  # type: ignore[return-value]

    async def _run(self, prompts: Sequence[Prompt], rubric_hash: str, progress: bool) -> list[JudgeReply]:
        import openai

        key = os.environ.get(self.api_key_env) or "not-needed"
        client = openai.AsyncOpenAI(base_url=self.base_url, api_key=key, max_retries=0, timeout=self.timeout)
        gate = asyncio.Semaphore(self.concurrency)
        # The first call alone, before the display: a wrong URL, model or key then costs one call (with its
        # retries), not one per sample, and is reported as one line.
        first = await self._call(client, prompts[0][2])
        self._store(prompts[0], rubric_hash, first)
        if first.text is None:
            await client.close()
            skipped = JudgeReply(None, 0, error=f"{first.error}; not attempted: the first call failed")
            return [first] + [skipped] * (len(prompts) - 1)
        prompts = prompts[1:]
        with ProgressBar(f"judging with {self.model_name}", len(prompts) + 1, enabled=progress) as bar:
            bar.advance()

            async def one(p: Prompt) -> JudgeReply:
                async with gate:
                    reply = await self._call(client, p[2])
                self._store(p, rubric_hash, reply)
                bar.advance()
                return reply

            try:
                return [first] + list(await asyncio.gather(*(one(p) for p in prompts)))
            finally:
                await client.close()

    async def _call(self, client, prompt: str) -> JudgeReply:
        import openai

        error = "no attempt"
        for attempt in range(1, self.max_retries + 2):
            wait = None
            try:
                self.calls += 1
                resp = await client.chat.completions.create(
                    model=self.model_name, messages=[{"role": "user", "content": prompt}], temperature=0.0,
                    max_tokens=self.max_tokens)
                return JudgeReply(resp.choices[0].message.content or "", attempt)
            except openai.APIStatusError as err:
                error = f"HTTP {err.status_code}"
                if err.status_code < 500 and err.status_code not in self.RETRY_STATUS:
                    return JudgeReply(None, attempt, error=error)
                wait = _retry_after(err)
            except openai.APITimeoutError:
                error = f"timeout after {self.timeout:g}s"
            except openai.APIConnectionError as err:
                error = f"connection error ({type(err.__cause__).__name__ if err.__cause__ else 'unknown'})"
            if attempt <= self.max_retries:
                await asyncio.sleep(wait if wait is not None else self._backoff(attempt))
        return JudgeReply(None, self.max_retries + 1, error=error)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter around the nominal delay (0.5x to 1.5x)."""
        return min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)


def _retry_after(err) -> float | None:
    value = getattr(err, "response", None) and err.response.headers.get("retry-after")
    try:
        return min(60.0, max(0.0, float(value))) if value else None
    except ValueError:
        return None


class LocalJudge(_CachedJudge):
    """A local Hugging Face chat model as the judge, for fully offline scoring (greedy)."""

    def __init__(self, model: str, *, max_tokens: int | None = None, batch_size: int = 8,
                 cache: JudgeCache | None = None, trust_remote_code: bool = False):
        super().__init__(cache)
        self.model_name, self.max_tokens, self.batch_size = model, max_tokens, batch_size
        self.trust_remote_code = trust_remote_code
        self.calls = 0
        self._loaded = None  # the model, loaded on first use and kept: one load per run, not per cell

    def judge_all(self, prompts: Sequence[Prompt], *, rubric_hash: str, progress: bool = True) -> list[JudgeReply]:
        from ptst.models import load_model
        from ptst.models.generate_rendered import Decoding, generate
        from ptst.templates import Template, render_prompt

        replies = self.cached_replies(prompts, rubric_hash)
        todo = [i for i, r in enumerate(replies) if r is None]
        if not todo:
            return replies  # type: ignore[return-value]
        if self._loaded is None:
            self._loaded = load_model(self.model_name, trust_remote_code=self.trust_remote_code)
        loaded = self._loaded
        judge_template = Template(name="judge", mode="chat", system=None, user="{input}")
        rendered = [render_prompt(judge_template, prompts[i][2], tokenizer=loaded.tokenizer) for i in todo]
        with ProgressBar(f"judging with {self.model_name}", len(todo), enabled=progress) as bar:
            for batch in generate(loaded, rendered, Decoding(max_new_tokens=self.max_tokens),
                                  batch_size=self.batch_size):
                for g in batch:
                    i = todo[g.index]
                    replies[i] = JudgeReply(g.text, 1)
                    self._store(prompts[i], rubric_hash, replies[i])
                    self.calls += 1
                    bar.advance()
        return replies  # type: ignore[return-value]


def make_judge(*, base_url: str | None, judge_model: str | None, judge_local: str | None,
               cache: JudgeCache | None, **options):
    if base_url and judge_local:
        raise PtstError("give either --base-url (an endpoint) or --judge-local (a local model), not both")
    if base_url:
        if not judge_model:
            raise PtstError("--base-url needs --judge-model NAME (the model name the endpoint serves)")
        return OpenAIJudge(base_url, judge_model, cache=cache, **options)
    if judge_local:
        return LocalJudge(judge_local, cache=cache, max_tokens=options.get("max_tokens"))
    return None
