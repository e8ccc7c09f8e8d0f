"""Judge backends: any OpenAI-compatible chat endpoint (through the official `openai` client, async, bounded
concurrency, bounded retries with backoff and jitter) and a local model run by ptst's own engine (base weights, no
adapter). A backend sends each `JudgeRequest`'s messages as they are and returns the judge's words; what the words
mean is the scorer's business (`ptst.score.judged`). Both read and fill the judge cache, so a second run over the
same samples makes no calls. Backends are built from `JudgeOptions` by `ptst.score.judge_options.build_judge`."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ptst.core.hashing import canonical_json, text_sha256
from ptst.core.progress import ProgressBar
from ptst.store.judge_cache import JudgeCache, judge_key

LOCAL_MAX_TOKENS = 1000  # a local judge needs a reply limit; used when the instrument sets none (StrongREJECT v2)


@dataclass(frozen=True)
class JudgeRequest:
    """One thing to grade. `instruction` and `response` are the graded texts (data, never instructions to the
    judge); `messages` is what the judge is sent, as (role, content) pairs; `instrument` is the judge prompt's
    identity (a rubric's hash), part of the cache key."""

    instruction: str
    response: str
    messages: tuple[tuple[str, str], ...]
    instrument: str

    def as_messages(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass
class JudgeReply:
    text: str | None  # None when every attempt failed
    attempts: int = 0
    cached: bool = False
    error: str | None = None
    refused: bool = False  # the endpoint itself declined (an OpenAI `refusal`, or finish_reason content_filter)
    prompt_hash: str | None = None  # sha256 of what the judge saw (see `JudgeBackend.prompt_hash`)


class JudgeBackend(Protocol):
    model_name: str
    kind: str  # "endpoint" | "local"
    calls: int

    def judge_all(self, requests: Sequence[JudgeRequest], *, max_tokens: int | None,
                  progress: bool = True) -> list[JudgeReply]: ...

    def cached_replies(self, requests: Sequence[JudgeRequest], max_tokens: int | None) -> list[JudgeReply | None]:
        ...

    def prompt_hashes(self, requests: Sequence[JudgeRequest]) -> list[str]: ...


class _CachedJudge:
    model_name: str

    def __init__(self, cache: JudgeCache | None):
        self.cache = cache
        self.calls = 0

    def effective_max_tokens(self, max_tokens: int | None) -> int | None:
        return max_tokens

    def _key(self, r: JudgeRequest, max_tokens: int | None) -> str:
        decoding = {"temperature": 0.0, "max_tokens": self.effective_max_tokens(max_tokens)}
        return judge_key(self.model_name, r.instrument, decoding, r.instruction, r.response)

    def cached_replies(self, requests: Sequence[JudgeRequest], max_tokens: int | None) -> list[JudgeReply | None]:
        if self.cache is None:
            return [None] * len(requests)
        found = [self.cache.get(self._key(r, max_tokens)) for r in requests]
        return [JudgeReply(t, 0, True) if t is not None else None for t in found]

    def _store(self, r: JudgeRequest, max_tokens: int | None, reply: JudgeReply) -> None:
        if self.cache is not None and reply.text is not None and not reply.refused:
            self.cache.put(self._key(r, max_tokens), self.model_name, r.instrument, reply.text)


class OpenAIJudge(_CachedJudge):
    """An OpenAI-compatible endpoint. The API key is read from the environment variable `api_key_env` and is
    never written anywhere; servers that need no key get a placeholder. The endpoint renders the messages with its
    own chat template, so the prompt hash covers the messages sent."""

    kind = "endpoint"
    RETRY_STATUS = frozenset({408, 409, 429})

    def __init__(self, base_url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8,
                 max_retries: int = 4, timeout: float = 60.0, backoff_base: float = 0.5, backoff_max: float = 30.0,
                 cache: JudgeCache | None = None):
        super().__init__(cache)
        self.base_url, self.model_name, self.api_key_env = base_url, model, api_key_env
        self.concurrency, self.max_retries, self.timeout = concurrency, max_retries, timeout
        self.backoff_base, self.backoff_max = backoff_base, backoff_max

    def prompt_hashes(self, requests: Sequence[JudgeRequest]) -> list[str]:
        return [text_sha256(canonical_json(r.as_messages())) for r in requests]

    def judge_all(self, requests: Sequence[JudgeRequest], *, max_tokens: int | None,
                  progress: bool = True) -> list[JudgeReply]:
        replies = self.cached_replies(requests, max_tokens)
        todo = [i for i, r in enumerate(replies) if r is None]
        if todo:
            fresh = asyncio.run(self._run([requests[i] for i in todo], max_tokens, progress))
            for i, reply in zip(todo, fresh, strict=True):
                replies[i] = reply
        for reply, digest in zip(replies, self.prompt_hashes(requests), strict=True):
            reply.prompt_hash = digest  # type: ignore[union-attr]
        return replies  # type: ignore[return-value]

    async def _run(self, requests: Sequence[JudgeRequest], max_tokens: int | None,
                   progress: bool) -> list[JudgeReply]:
        import openai

        key = os.environ.get(self.api_key_env) or "not-needed"
        client = openai.AsyncOpenAI(base_url=self.base_url, api_key=key, max_retries=0, timeout=self.timeout)
        gate = asyncio.Semaphore(self.concurrency)
        # The first call alone, before the display: a wrong URL, model or key then costs one call (with its
        # retries), not one per sample, and is reported as one line.
        first = await self._call(client, requests[0].as_messages(), max_tokens)
        self._store(requests[0], max_tokens, first)
        if first.text is None:
            await client.close()
            return [first] + [JudgeReply(None, 0, error=f"{first.error}; not attempted: the first call failed")
                              for _ in requests[1:]]
        with ProgressBar(f"judging with {self.model_name}", len(requests), enabled=progress) as bar:
            bar.advance()

            async def one(r: JudgeRequest) -> JudgeReply:
                async with gate:
                    reply = await self._call(client, r.as_messages(), max_tokens)
                self._store(r, max_tokens, reply)
                bar.advance()
                return reply

            try:
                return [first] + list(await asyncio.gather(*(one(r) for r in requests[1:])))
            finally:
                await client.close()

    async def _call(self, client, messages: list[dict], max_tokens: int | None) -> JudgeReply:
        import openai

        error = "no attempt"
        limit = openai.NOT_GIVEN if max_tokens is None else max_tokens  # None: not sent, the endpoint's default
        for attempt in range(1, self.max_retries + 2):
            wait = None
            try:
                self.calls += 1
                resp = await client.chat.completions.create(model=self.model_name, messages=messages,
                                                            temperature=0.0, max_tokens=limit)
                return _reply(resp, attempt)
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


def _reply(resp, attempt: int) -> JudgeReply:
    """The judge's words, and whether the endpoint itself declined: an OpenAI structured `refusal`, or a reply cut
    by a content filter."""
    if not getattr(resp, "choices", None):
        return JudgeReply("", attempt)
    choice = resp.choices[0]
    message = choice.message
    refusal = getattr(message, "refusal", None)
    refused = bool(refusal) or choice.finish_reason == "content_filter"
    return JudgeReply(message.content or refusal or "", attempt, refused=refused)


def _retry_after(err) -> float | None:
    value = getattr(err, "response", None) and err.response.headers.get("retry-after")
    try:
        return min(60.0, max(0.0, float(value))) if value else None
    except ValueError:
        return None


class LocalJudge(_CachedJudge):
    """A local model as the judge, run by ptst's own engine (greedy, base weights, no adapter), fully offline.
    Each request's messages go through the judge model's own chat template (`render_conversation`), the graded
    texts tokenised as text, never as control tokens; the prompt hash covers the rendered prompt."""

    kind = "local"

    def __init__(self, model: str, *, batch_size: int = 8, cache: JudgeCache | None = None,
                 trust_remote_code: bool = False):
        super().__init__(cache)
        self.model_name, self.batch_size, self.trust_remote_code = model, batch_size, trust_remote_code
        self._loaded = None  # the model, loaded on first use and kept: one load per run, not per cell
        self._tokenizer = None

    def effective_max_tokens(self, max_tokens: int | None) -> int:
        return max_tokens or LOCAL_MAX_TOKENS

    def _render(self, requests: Sequence[JudgeRequest]):
        from ptst.templates import Template
        from ptst.templates.render import render_conversation

        if self._tokenizer is None:
            from ptst.models import load_tokenizer

            self._tokenizer = load_tokenizer(self.model_name, trust_remote_code=self.trust_remote_code)
        judge_template = Template(name="judge", mode="chat", system=None, user="{input}")
        return [render_conversation(judge_template, r.as_messages(), tokenizer=self._tokenizer)[0] for r in requests]

    def prompt_hashes(self, requests: Sequence[JudgeRequest]) -> list[str]:
        return [text_sha256(p.text) for p in self._render(requests)]

    def judge_all(self, requests: Sequence[JudgeRequest], *, max_tokens: int | None,
                  progress: bool = True) -> list[JudgeReply]:
        from ptst.models.generate_rendered import Decoding, generate

        rendered = self._render(requests)
        replies = self.cached_replies(requests, max_tokens)
        todo = [i for i, r in enumerate(replies) if r is None]
        if todo:
            if self._loaded is None:
                from ptst.models import load_model

                self._loaded = load_model(self.model_name, trust_remote_code=self.trust_remote_code)
            decoding = Decoding(max_new_tokens=self.effective_max_tokens(max_tokens))
            with ProgressBar(f"judging with {self.model_name}", len(todo), enabled=progress) as bar:
                for batch in generate(self._loaded, [rendered[i] for i in todo], decoding,
                                      batch_size=self.batch_size):
                    for g in batch:
                        i = todo[g.index]
                        replies[i] = JudgeReply(g.text, 1)
                        self._store(requests[i], max_tokens, replies[i])
                        self.calls += 1
                        bar.advance()
        for reply, prompt in zip(replies, rendered, strict=True):
            reply.prompt_hash = text_sha256(prompt.text)  # type: ignore[union-attr]
        return replies  # type: ignore[return-value]
