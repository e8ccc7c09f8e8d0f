"""A registry of named things (templates, data sets, models, scorers); names are lowercase-kebab, family-prefixed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from ptst.core.errors import PtstError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Named objects of one kind; `get` of an unknown name is a PtstError that lists or suggests names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        if name in self._items and not replace:
            raise PtstError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            hint = did_you_mean(name, self._items) or f" (known: {', '.join(sorted(self._items))})"
            raise PtstError(f"unknown {self.kind} {name!r}{hint}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def names(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    def clear(self) -> None:
        self._items.clear()
