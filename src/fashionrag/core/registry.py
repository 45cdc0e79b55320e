"""One registry helper: names -> factories, for every pluggable backend.

Encoders, vector stores, caption writers, garment detectors and edit profiles are each a :class:`Registry`.
A backend is one file that registers itself with one line; the registry knows the built-in backends only as
module names and imports them on first use, so ``import fashionrag`` stays light and no package imports its
backends at import time (no circle between a registry and the files that register into it).

>>> WRITERS = Registry("writer", builtins=["fashionrag.writers.template"])
>>> @WRITERS.register("template")
... def _make(**kw): ...
>>> WRITERS.create("template")
>>> WRITERS.names()         # the CLI's ``choices=``
"""

from __future__ import annotations

import importlib
from typing import Callable, Generic, Iterable, Optional, TypeVar, overload

from .errors import FashionRAGError, InvalidInputError

T = TypeVar("T")
F = TypeVar("F", bound=Callable)


class Registry(Generic[T]):
    """Maps a name to a factory returning a ``T``.

    ``builtins`` are dotted module names imported (once) before the first look-up; ``error`` is the exception
    an unknown name raises, with a message listing the known names and ``hint``.
    """

    def __init__(self, kind: str, *, builtins: Iterable[str] = (), error: type[FashionRAGError] = InvalidInputError,
                 hint: str = ""):
        self.kind = kind
        self._builtins = tuple(builtins)
        self._loaded = not self._builtins
        self._factories: dict[str, Callable[..., T]] = {}
        self._error = error
        self._hint = hint

    # -- registration -------------------------------------------------------------------------------------
    @overload
    def register(self, name: str) -> Callable[[F], F]: ...

    @overload
    def register(self, name: str, factory: F) -> F: ...

    def register(self, name: str, factory: Optional[Callable[..., T]] = None):
        """``@REG.register("name")`` above a factory, or ``REG.register("name", factory)``."""
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} needs a non-empty name")

        def deco(f):
            self._factories[name] = f
            return f

        return deco if factory is None else deco(factory)

    # -- look-up ----------------------------------------------------------------------------------------------
    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # set first: a builtin that imports this registry must not recurse
        for mod in self._builtins:
            importlib.import_module(mod)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._factories

    def get(self, name: str) -> Callable[..., T]:
        self._load()
        factory = self._factories.get(name)
        if factory is None:
            known = ", ".join(sorted(self._factories)) or "(none)"
            raise self._error(f"unknown {self.kind} {name!r}; use one of: {known}" + (f" {self._hint}" if self._hint else ""))
        return factory

    def create(self, name: str, *args, **kwargs) -> T:
        return self.get(name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={sorted(self._factories)})"
