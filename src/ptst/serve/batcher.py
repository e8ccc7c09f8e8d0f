"""Batches concurrent requests onto the model: a worker thread takes queued requests, groups those with the same
decoding settings, and decodes them together, streaming each token back to its request. A bounded queue turns
overload into an immediate 'busy' answer instead of a hang."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ptst.models.decode import common_prefix, decode_batch, make_sampler, prefill_prefix
from ptst.models.engines import stop_token_ids


@dataclass
class Job:
    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int
    on_token: Callable[[int], None]  # called from the worker thread with each new token
    on_done: Callable[[list[int], str], None]  # tokens, finish reason
    tokens: list[int] = field(default_factory=list)

    @property
    def key(self) -> tuple:
        return (self.temperature, self.top_p, self.seed if self.temperature > 0 else 0)


class Busy(Exception):
    """The request queue is full."""


class Batcher:
    def __init__(self, loaded, *, max_batch: int = 8, max_queue: int = 64, wait_ms: float = 5.0,
                 shared_prefix: list[int] | None = None):
        self.loaded, self.max_batch, self.wait = loaded, max_batch, wait_ms / 1000
        self.queue: queue.Queue[Job] = queue.Queue(maxsize=max_queue)
        self.stops = stop_token_ids(loaded.tokenizer)
        tok = loaded.tokenizer
        self.pad = tok.pad_token_id if tok.pad_token_id is not None else self.stops[0]
        self.prefix = shared_prefix or []
        self.prefix_cache = prefill_prefix(loaded.model, self.prefix) if len(self.prefix) >= 16 else None
        self._thread = threading.Thread(target=self._run, daemon=True, name="ptst-batcher")
        self._thread.start()

    def submit(self, job: Job) -> None:
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            raise Busy() from None

    def _run(self) -> None:
        while True:
            jobs = [self.queue.get()]
            deadline = time.monotonic() + self.wait
            while len(jobs) < self.max_batch:
                try:
                    jobs.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            groups: dict[tuple, list[Job]] = {}
            for job in jobs:
                groups.setdefault(job.key, []).append(job)
            for group in groups.values():
                try:
                    self._decode(group)
                except Exception as err:  # a failed batch must not kill the server: report it to each request
                    for job in group:
                        job.on_done(job.tokens, f"error: {type(err).__name__}: {err}")

    def _decode(self, jobs: list[Job]) -> None:
        use_prefix = self.prefix_cache is not None and common_prefix(
            [self.prefix + [-1]] + [j.prompt_ids for j in jobs], leave=1) >= len(self.prefix)
        cut = len(self.prefix) if use_prefix else 0
        limit = max(j.max_new_tokens for j in jobs)
        done = [False] * len(jobs)

        def on_token(row: int, token: int) -> None:
            job = jobs[row]
            if done[row]:
                return
            job.tokens.append(token)
            job.on_token(token)
            if len(job.tokens) >= job.max_new_tokens:
                done[row] = True
                job.on_done(job.tokens, "length")

        first = jobs[0]
        rows = decode_batch(self.loaded.model, [j.prompt_ids[cut:] for j in jobs], pad_id=self.pad,
                            stops=self.stops, max_new_tokens=limit, prefix_cache=self.prefix_cache if use_prefix
                            else None, prefix_len=cut, on_token=on_token,
                            sample=make_sampler(first.temperature, first.top_p, 0, first.seed))
        for k, (job, row) in enumerate(zip(jobs, rows, strict=True)):
            if not done[k]:
                job.on_done(job.tokens, row.finish_reason if len(job.tokens) < job.max_new_tokens else "length")
