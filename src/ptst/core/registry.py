"""The one registry of named things, for every kind ptst looks up by name: templates, data sets, embedded models,
engines, executors, scorers and commands. Names are lowercase-kebab, family-prefixed.

Every kind registers the same way: the module that defines a thing registers it when imported (`register`; `add`
for a thing that carries its `name`; `@add_class` for a class, registered as one instance), and the registry
names the modules that hold its things (`plugins`), imported on the first lookup, so every lookup sees them all
and nothing is imported before it is needed. Every lookup goes through `get` (an unknown name is one line that
suggests the closest name or lists them all), or `validate` in a config field's validator."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

from ptst.core.errors import PtstError, did_you_mean

T = TypeVar("T")
C = TypeVar("C", bound=type)


class Registry(Generic[T]):
    """Named objects of one kind; `plugins`: the modules that register them (imported on first use)."""

    def __init__(self, kind: str, plugins: Sequence[str] = ()):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._plugins = list(plugins)

    def _load(self) -> None:
        while self._plugins:  # popped first: a plug-in module may look things up while it is imported
            importlib.import_module(self._plugins.pop(0))

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        if name in self._items and not replace:
            raise PtstError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def add(self, item: T, *, replace: bool = False) -> T:
        """Register a thing under its own `name`."""
        return self.register(item.name, item, replace=replace)  # type: ignore[attr-defined]

    def add_class(self, cls: C) -> C:
        """Class decorator: register one instance of the class under its `name`."""
        self.add(cls())
        return cls

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            hint = did_you_mean(name, self._items) or f" (known: {', '.join(sorted(self._items))})"
            raise PtstError(f"unknown {self.kind} {name!r}{hint}") from None

    def validate(self, name: str) -> str:
        """For a config field's validator: the name when registered, else `get`'s message as a ValueError (so the
        error names the field)."""
        try:
            self.get(name)
        except PtstError as err:
            raise ValueError(str(err)) from None
        return name

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(list(self._items))

    def names(self) -> list[str]:
        self._load()
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return list(self._items.items())

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    def clear(self) -> None:
        self._items.clear()
