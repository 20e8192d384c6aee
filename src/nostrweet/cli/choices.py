"""The fixed sets of values that options take, as enums, so that ``--help`` shows them as choices."""

from __future__ import annotations

from enum import StrEnum


class KeyDerivationChoice(StrEnum):
    """``--key-derivation``."""

    nip06 = "nip06"
    legacy = "legacy"


class LogFormatChoice(StrEnum):
    """``--log-format``."""

    text = "text"
    json = "json"


class EventFormat(StrEnum):
    """``utils query-events --format``."""

    pretty = "pretty"
    json = "json"


class MnemonicWords(StrEnum):
    """``generate-mnemonic --words``."""

    twelve = "12"
    twenty_four = "24"
