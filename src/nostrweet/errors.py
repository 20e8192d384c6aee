"""Typed errors. Each carries the process exit code of SPEC §1 that the CLI boundary turns it into.

Messages are one line, meant for a person, and never contain a secret.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class NostrweetError(Exception):
    """Base of every error the CLI reports as one line. Exit code 1 unless a subclass says otherwise."""

    exit_code: int = EXIT_FAILURE


class InputError(NostrweetError):
    """Bad input from the user: usage, username, URL, relay, mnemonic, config, missing credential (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(InputError):
    """The TOML config file does not validate."""


class MissingCredentialError(InputError):
    """A bearer token or mnemonic that the command needs was not given."""


class OperationalError(NostrweetError):
    """Something outside went wrong: the X API, a relay, a Blossom server, the disk (exit 1)."""


class TwitterApiError(OperationalError):
    """The X API answered with an error we cannot recover from."""


class TwitterAuthError(TwitterApiError):
    """401/403: the bearer token is wrong, expired or lacks access."""


class NotFoundError(OperationalError):
    """A tweet or user does not exist, is protected, or is suspended."""


class PublishError(OperationalError):
    """An event reached no relay."""
