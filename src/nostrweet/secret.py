"""A secret string (mnemonic, bearer token, admin token) that never shows itself by accident."""

from __future__ import annotations

__all__ = ["Secret"]


class Secret:
    """A string that never shows itself in repr, str or f-strings. Use :meth:`reveal` to get it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret text itself. Never log what this returns."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**redacted**')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
