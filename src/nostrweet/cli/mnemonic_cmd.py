"""The generate-mnemonic command: a new BIP-39 phrase for the mirror keys (SPEC §1)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from mnemonic import Mnemonic

from nostrweet.cache.atomic import atomic_write_bytes
from nostrweet.cli.choices import MnemonicWords
from nostrweet.cli.root import app, options_of
from nostrweet.errors import InputError, OperationalError

STRENGTH_BITS = {12: 128, 24: 256}
OFFLINE_HINT = (
    "Keep this phrase offline and private: every mirror key comes from it, and it cannot be changed "
    "later without changing every npub. Save it with --out FILE (mode 0600) and use --mnemonic-file FILE."
)


def new_phrase(words: int) -> str:
    """A new English BIP-39 phrase of ``words`` words from the operating system's randomness."""
    return str(Mnemonic("english").generate(STRENGTH_BITS[words]))


def write_new_secret_file(path: Path, text: str) -> None:
    """Create ``path`` (it must not exist yet) with mode 0600 and ``text`` in it, on disk when this returns."""
    try:
        atomic_write_bytes(path, text.encode("utf-8"), exclusive=True)
    except FileExistsError:
        raise InputError(f"{path} already exists: not overwriting it, choose a new file") from None
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        raise InputError(f"cannot create {path}: {exc.strerror}") from None
    except OSError as exc:
        raise OperationalError(f"cannot write to {path}: {exc.strerror or exc}") from None


@app.command("generate-mnemonic")
def generate_mnemonic(
    ctx: typer.Context,
    words: Annotated[
        MnemonicWords, typer.Option("--words", help="Length of the phrase in words.")
    ] = MnemonicWords.twenty_four,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Write the phrase to this new file (mode 0600; an existing file is never overwritten) "
            "and print only its path.",
        ),
    ] = None,
) -> None:
    """Make a new BIP-39 mnemonic (24 words unless --words 12) for the mirror keys."""
    options = options_of(ctx)
    phrase = new_phrase(int(words.value))
    if out is not None:
        path = out.expanduser()
        write_new_secret_file(path, phrase + "\n")
        typer.echo(str(path))
        return
    typer.echo(phrase)
    if options.log_level < logging.ERROR:
        typer.echo(OFFLINE_HINT, err=True)
