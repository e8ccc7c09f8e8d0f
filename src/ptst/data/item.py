"""One data-set row as every stage sees it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Role = Literal["task", "harmful", "refusal", "benign-probe"]
ROLES: tuple[str, ...] = ("task", "harmful", "refusal", "benign-probe")


@dataclass(frozen=True)
class Item:
    """`id` is stable across subsampling (it carries the row's position in its source), so resume can key on it.
    `answer` is the reference answer (task), the safe reply (refusal), or None."""

    id: str
    input: str
    answer: str | None = None
    category: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}
