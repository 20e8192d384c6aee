"""The NIP-05 domain option (``--nip05-domain``, ``[nostr] nip05_domain``): a hostname. Pure."""

from __future__ import annotations

import re

from nostrweet.errors import InputError

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def parse_nip05_domain(value: str, where: str = "--nip05-domain") -> str:
    """A NIP-05 domain: a hostname (labels of ``a-z0-9-``, dots between), lower-cased; InputError otherwise."""
    domain = value.strip().lower()
    problem = None
    if not domain:
        problem = "is empty"
    elif not domain.isascii():
        problem = "must be ASCII: give an international domain in its xn-- form"
    elif len(domain) > 253 or not all(_LABEL.fullmatch(label) for label in domain.split(".")):
        problem = "must be a hostname like example.com (no scheme, port, path or @)"
    if problem:
        raise InputError(f"{where} {problem}: {value!r}")
    return domain


def resolve_nip05_domain(flag: str | None, configured: object) -> str | None:
    """The NIP-05 domain from the flag (or its environment variable), else the config file's
    ``[nostr] nip05_domain``, else None; InputError (exit 2) if it is not a hostname."""
    if flag is not None:
        return parse_nip05_domain(flag)
    if configured is None:
        return None
    return parse_nip05_domain(str(configured), "[nostr] nip05_domain")
