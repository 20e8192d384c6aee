"""The ``nostrweet`` Typer app and its global options (SPEC §1): what every command module imports.

Command modules register themselves on :data:`app` and read the resolved options with
:func:`options_of`; each is imported only when one of its commands runs (``cli.registry``). The error boundary and the entry point live in ``cli.app``, which imports the
command modules; this module imports none of them, so the arrows point one way.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from nostrweet import __version__
from nostrweet.cli import coercion
from nostrweet.cli.choices import KeyDerivationChoice, LogFormatChoice
from nostrweet.cli.registry import LazyGroup
from nostrweet.config import Checks
from nostrweet.logs import configure_logging, register_secret
from nostrweet.settings import DEFAULT_API_URL, DEFAULT_DATA_DIR, GlobalOptions, resolve_global_options
from nostrweet.values import url_password


class RunState(msgspec.Struct):
    """What the error boundary needs to know of the options, as far as they were read."""

    verbosity: int = 0
    log_format: str = "text"
    data_dir: str | None = None


state = RunState()
"""The running command's: set by :func:`global_options`, read by ``cli.app``'s error boundary."""


def _alert_urls_problem(value: Any) -> str | None:
    from nostrweet.alerts.config import alert_urls_problem  # Apprise loads only for a file with alerts

    return alert_urls_problem(value)


CONFIG_CHECKS: Checks = {("alerts", "urls"): _alert_urls_problem}
"""The config file's value checks that need an I/O shell, added to the schema's own wherever a
command reads the file (the global options, ``config check``)."""

coercion.install()  # plain option values without pydantic (typer 0.2x)

app = typer.Typer(
    name="nostrweet",
    cls=LazyGroup,  # a command's module is imported when the command is named (cli.registry)
    help="Mirror Twitter/X accounts onto Nostr.",
    add_completion=True,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)

LazyGroup.source = app
log = logging.getLogger("nostrweet.cli")


def _version(value: bool) -> None:
    if value:
        print(f"nostrweet {__version__}")
        raise typer.Exit(0)


@app.callback()
def global_options(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "-d",
            "--data-dir",
            envvar="NOSTRWEET_DATA_DIR",
            metavar="DIR",
            show_default=DEFAULT_DATA_DIR,
            help="Cache directory; it is also the state.",
        ),
    ] = None,
    bearer_token: Annotated[
        str | None,
        typer.Option(
            "--bearer-token",
            envvar="TWITTER_BEARER_TOKEN",
            show_envvar=True,
            show_default="none",
            help="X API v2 app bearer token.",
        ),
    ] = None,
    bearer_token_file: Annotated[
        Path | None,
        typer.Option(
            "--bearer-token-file",
            envvar="NOSTRWEET_BEARER_TOKEN_FILE",
            metavar="FILE",
            show_default="none",
            help="Read the bearer token from this file (a container secret), so it is in no environment.",
        ),
    ] = None,
    mnemonic: Annotated[
        str | None,
        typer.Option(
            "-m",
            "--mnemonic",
            envvar="NOSTRWEET_MNEMONIC",
            metavar="PHRASE",
            show_default="none",
            help="BIP-39 mnemonic all mirror keys come from. It shows in ps: prefer --mnemonic-file.",
        ),
    ] = None,
    mnemonic_file: Annotated[
        Path | None,
        typer.Option(
            "--mnemonic-file",
            envvar="NOSTRWEET_MNEMONIC_FILE",
            metavar="FILE",
            show_default="none",
            help="Read the mnemonic from this file, so it never shows in ps.",
        ),
    ] = None,
    twitter_api_url: Annotated[
        str | None,
        typer.Option(
            "--twitter-api-url",
            envvar="NOSTRWEET_TWITTER_API_URL",
            metavar="URL",
            show_default=DEFAULT_API_URL,
            help="X API root; requests go to <root>/2/...",
        ),
    ] = None,
    key_derivation: Annotated[
        KeyDerivationChoice | None,
        typer.Option(
            "--key-derivation",
            envvar="NOSTRWEET_KEY_DERIVATION",
            case_sensitive=False,
            show_default="nip06",
            help="How mirror keys are derived.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "-c",
            "--config",
            envvar="NOSTRWEET_CONFIG",
            metavar="FILE",
            show_default="none",
            help="TOML config file. A global option: 'user-tweets -c N' is --count, not this.",
        ),
    ] = None,
    state_url: Annotated[
        str | None,
        typer.Option(
            "--state-url",
            envvar="NOSTRWEET_STATE_URL",
            metavar="URL",
            show_default="sqlite:///<data-dir>/nostrweet.sqlite3",
            help="Where the state lives: sqlite:///PATH, or postgresql://user@host/db to share it between "
            "instances.",
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "-v",
            "--verbose",
            count=True,
            metavar="",
            show_default=False,
            help="Repeatable. -v: nostrweet's debug lines; -vv: also library info lines and tracebacks; "
            "-vvv: everything at debug.",
        ),
    ] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only errors.")] = False,
    log_format: Annotated[
        LogFormatChoice | None,
        typer.Option(
            "--log-format",
            envvar="NOSTRWEET_LOG_FORMAT",
            case_sensitive=False,
            show_default="text",
            help="json gives one object per line on stderr.",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("-V", "--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Mirror Twitter/X accounts onto Nostr. Environment: NOSTRWEET_LOG_LEVEL sets the log level."""
    state.verbosity = verbose
    state.data_dir = str(data_dir) if data_dir is not None else None
    if log_format is LogFormatChoice.json:
        state.log_format = "json"  # so that an error in the options below is reported as JSON too
    for secret in (bearer_token, mnemonic, url_password(state_url)):
        if secret:
            register_secret(secret)
    options = resolve_global_options(
        data_dir=str(data_dir) if data_dir is not None else None,
        bearer_token=bearer_token,
        mnemonic=mnemonic,
        mnemonic_file=str(mnemonic_file) if mnemonic_file is not None else None,
        twitter_api_url=twitter_api_url,
        key_derivation=key_derivation.value if key_derivation is not None else None,
        # `config check` reads the file itself, so that it can report every error of it
        config_path=str(config) if config is not None and ctx.invoked_subcommand != "config" else None,
        verbose=verbose,
        quiet=quiet,
        log_format=log_format.value if log_format is not None else None,
        mnemonic_from_command_line=_from_command_line(ctx, "mnemonic"),
        state_url=state_url,
        bearer_token_file=str(bearer_token_file) if bearer_token_file is not None else None,
        config_checks=CONFIG_CHECKS,
    )
    for value in (options.bearer_token, options.mnemonic):
        if value is not None:
            register_secret(value.reveal())
    if password := url_password(options.state_url):
        register_secret(password)
    configure_logging(options.log_level, options.log_format, options.verbosity)
    state.log_format = options.log_format
    state.data_dir = str(options.data_dir)
    for warning in options.warnings:
        log.warning("%s", warning)
    ctx.obj = options
    ctx.meta["config_path"] = config


def options_of(ctx: typer.Context) -> GlobalOptions:
    """The resolved global options of the running command."""
    obj = ctx.find_root().obj
    assert isinstance(obj, GlobalOptions)
    return obj


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return getattr(source, "name", None) == "COMMANDLINE"
