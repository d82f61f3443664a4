"""Reading the environment, variable by variable, into the values of the settings' fields."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from .fields import SECRETS

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Parser:
    """Reads variables one by one, collecting every problem instead of stopping at the first.
    Each reader returns None for an unset (or, after noting the problem, invalid) variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def unset(self, f: dataclasses.Field[Any]) -> bool:
        return all(name not in self.env for name in f.metadata["env"])

    def read(self, f: dataclasses.Field[Any]) -> Any:
        spec, default = f.metadata, f.default
        for name in spec["env"]:
            value: Any
            if isinstance(default, tuple):
                value = self._items(name, spec["each"])
            elif isinstance(default, bool):
                value = self._boolean(name)
            elif isinstance(default, int | float):
                value = self._number(name, type(default))
            elif spec["choices"]:
                value = self._choice(name)
            else:
                value = self._text(name)
            if value is not None:
                return value
        return default

    def _text(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def _boolean(self, name: str) -> bool | None:
        raw = self.env.get(name)
        if raw is None:
            return None
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        self.problems.append(f"{name} must be true or false, not {raw!r}.")
        return None

    def _choice(self, name: str) -> str | None:
        value = self._text(name)
        return None if value is None else value.lower()  # judged with the rest (_problems)

    def _number(self, name: str, kind: Callable[[str], float]) -> float | None:
        raw = self._text(name)
        if raw is None:
            return None
        try:
            value = kind(raw)
        except ValueError:
            shown = "a whole number" if kind is int else "a number"
            self.problems.append(f"{name} must be {shown}, not {raw!r}.")
            return None
        return value  # its bounds are checked with every other field's (_out_of_bounds)

    def _items(self, name: str, convert: Callable[[str], Any]) -> tuple[Any, ...] | None:
        raw = self.env.get(name)
        if raw is None:
            return None
        out: list[Any] = []
        for part in (s.strip() for s in raw.split(",")):
            if not part:
                continue
            try:
                out.append(convert(part))
            except ValueError as exc:
                shown = "an entry" if name.lower() in SECRETS else repr(part)
                self.problems.append(f"{name}: {shown} is not valid ({exc}).")
        return tuple(out)
