"""``nostrweet config check [FILE]``: validate a config file and report every error in it (SPEC §6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nostrweet.cli.root import CONFIG_CHECKS, app, options_of
from nostrweet.config import check_config, read_config_text
from nostrweet.errors import EXIT_BAD_INPUT, InputError
from nostrweet.textsafe import printable

config_app = typer.Typer(help="The TOML config file.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("check")
def check(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(metavar="[FILE]", help="The config file (default: --config or NOSTRWEET_CONFIG)."),
    ] = None,
) -> None:
    """Validate a config file; print every error of it (exit 2), or 'FILE: ok'."""
    given = file if file is not None else ctx.find_root().meta.get("config_path")
    if given is None:
        raise InputError("no config file to check: name one, or use --config or NOSTRWEET_CONFIG")
    path = Path(given).expanduser()
    _config, problems = check_config(read_config_text(path), path, CONFIG_CHECKS)
    if not problems:
        typer.echo(printable(f"{path}: ok"))
        return
    as_json = options_of(ctx).log_format == "json"
    for line in problems:
        if as_json:  # one object per line, as every error is with --log-format json
            payload = {"level": "error", "logger": "nostrweet", "message": line, "exit_code": EXIT_BAD_INPUT}
            typer.echo(json.dumps(payload, ensure_ascii=False), err=True)
        else:
            typer.echo(printable(f"error: {line}"), err=True)
    raise typer.Exit(EXIT_BAD_INPUT)
