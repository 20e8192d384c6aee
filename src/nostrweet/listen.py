"""PURE: the ``--http HOST:PORT`` value (SPEC §8)."""

from __future__ import annotations

import ipaddress
import re

from nostrweet.errors import InputError

_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def parse_listen(value: str, where: str = "--http") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) → (host, port); InputError (exit 2) for anything else."""
    text = value.strip()
    hint = f"{where} must be HOST:PORT, as in 127.0.0.1:8080 (got {value!r})"
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise InputError(hint)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InputError(hint) from None
    else:
        host, sep, port = text.rpartition(":")
        if not sep or not host or ":" in host:
            raise InputError(hint)
        if not _HOSTNAME.fullmatch(host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise InputError(hint) from None
    if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{where}: the port must be a number from 1 to 65535 (got {value!r})")
    return host, int(port)
