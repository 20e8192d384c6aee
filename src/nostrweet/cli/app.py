"""The ``nostrweet`` command: global options, error boundary and exit codes (SPEC §1).

Commands live in sibling modules (``archive_cmds``, ``publish_cmds``, ``daemon_cmd``, ``utils_cmds``)
and register themselves on :data:`app`. This module turns every error into one line on stderr and the
exit code of SPEC §1; a traceback shows only at ``-vv``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Annotated, NoReturn

import click
import typer
from dotenv import load_dotenv

from nostrweet import __version__
from nostrweet.errors import EXIT_BAD_INPUT, EXIT_FAILURE, NostrweetError
from nostrweet.logs import configure_logging, register_secret, scrub
from nostrweet.settings import DEFAULT_API_URL, DEFAULT_DATA_DIR, GlobalOptions, resolve_global_options

app = typer.Typer(
    name="nostrweet",
    help="Mirror Twitter/X accounts onto Nostr.",
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)

_verbosity = 0
_log_format = "text"


def _version(value: bool) -> None:
    if value:
        print(f"nostrweet {__version__}")
        raise typer.Exit(0)


@app.callback()
def global_options(
    ctx: typer.Context,
    data_dir: Annotated[
        str | None,
        typer.Option(
            "-d",
            "--data-dir",
            envvar="NOSTRWEET_DATA_DIR",
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
    mnemonic: Annotated[
        str | None,
        typer.Option(
            "-m",
            "--mnemonic",
            envvar="NOSTRWEET_MNEMONIC",
            show_default="none",
            help="BIP-39 mnemonic all mirror keys come from (prefer --mnemonic-file).",
        ),
    ] = None,
    mnemonic_file: Annotated[
        str | None,
        typer.Option(
            "--mnemonic-file",
            envvar="NOSTRWEET_MNEMONIC_FILE",
            show_default="none",
            help="Read the mnemonic from this file, so it never shows in ps.",
        ),
    ] = None,
    twitter_api_url: Annotated[
        str | None,
        typer.Option(
            "--twitter-api-url",
            envvar="NOSTRWEET_TWITTER_API_URL",
            show_default=DEFAULT_API_URL,
            help="X API root; requests go to <root>/2/...",
        ),
    ] = None,
    key_derivation: Annotated[
        str | None,
        typer.Option(
            "--key-derivation",
            envvar="NOSTRWEET_KEY_DERIVATION",
            show_default="nip06",
            help="How mirror keys are derived: nip06 or legacy.",
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "-c", "--config", envvar="NOSTRWEET_CONFIG", show_default="none", help="TOML config file."
        ),
    ] = None,
    verbose: Annotated[
        int, typer.Option("-v", "--verbose", count=True, help="More logging; -vv adds tracebacks.")
    ] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only errors.")] = False,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            envvar="NOSTRWEET_LOG_FORMAT",
            show_default="text",
            help="text, or json (one object per line on stderr).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Mirror Twitter/X accounts onto Nostr. Environment: NOSTRWEET_LOG_LEVEL sets the log level."""
    global _verbosity, _log_format
    _verbosity = verbose
    if (log_format or "").lower() == "json":
        _log_format = "json"  # so that an error in the options below is reported as JSON too
    for secret in (bearer_token, mnemonic):
        if secret:
            register_secret(secret)
    options = resolve_global_options(
        data_dir=data_dir,
        bearer_token=bearer_token,
        mnemonic=mnemonic,
        mnemonic_file=mnemonic_file,
        twitter_api_url=twitter_api_url,
        key_derivation=key_derivation,
        config_path=config,
        verbose=verbose,
        quiet=quiet,
        log_format=log_format,
    )
    for value in (options.bearer_token, options.mnemonic):
        if value is not None:
            register_secret(value.reveal())
    configure_logging(options.log_level, options.log_format, options.verbosity)
    _log_format = options.log_format
    ctx.obj = options


def options_of(ctx: typer.Context) -> GlobalOptions:
    """The resolved global options of the running command."""
    obj = ctx.find_root().obj
    assert isinstance(obj, GlobalOptions)
    return obj


def _fail(message: str, code: int, hint: str | None = None, trace: str | None = None) -> NoReturn:
    """Report an error as one line on stderr (a JSON object with ``--log-format json``) and exit."""
    message = scrub(message)
    if _log_format == "json":
        payload: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "level": "error",
            "logger": "nostrweet",
            "message": message,
            "exit_code": code,
        }
        if hint:
            payload["hint"] = hint
        if trace:
            payload["exception"] = scrub(trace)
        print(json.dumps(payload, ensure_ascii=False), file=sys.stderr)
        sys.exit(code)
    if trace:
        print(scrub(trace), file=sys.stderr, end="")
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(hint, file=sys.stderr)
    sys.exit(code)


def _usage_message(exc: click.UsageError) -> str:
    # Typer marks every option as show_envvar, and click then appends "(env var: 'None')" to the
    # errors of options that have no environment variable.
    return exc.format_message().replace(" (env var: 'None')", "").replace("\n", " ")


def _usage_hint(exc: click.UsageError) -> str:
    path = exc.ctx.command_path if exc.ctx is not None else "nostrweet"
    return f"Try '{path} --help'."


def _register_commands() -> None:
    # Imported for their side effect of adding commands to `app`.
    import nostrweet.cli.import_cmd  # noqa: F401
    from nostrweet.cli import archive_cmds, daemon_cmd, keys_cmd, publish_cmds, utils_cmds  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Console entry point: load ``.env``, run the command, map errors to one line and an exit code."""
    load_dotenv(Path.cwd() / ".env", override=False)
    _register_commands()
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="nostrweet", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError:
        sys.exit(EXIT_BAD_INPUT)  # the help text is already printed; no empty error line after it
    except click.UsageError as exc:
        _fail(_usage_message(exc), EXIT_BAD_INPUT, _usage_hint(exc))
    except click.ClickException as exc:
        _fail(exc.format_message().replace("\n", " "), exc.exit_code)
    except click.Abort:
        _fail("aborted", EXIT_FAILURE)
    except NostrweetError as exc:
        trace = traceback.format_exc() if _verbosity >= 2 else None
        _fail(str(exc), exc.exit_code, trace=trace)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        trace = traceback.format_exc() if _verbosity >= 2 else None
        _fail(
            f"unexpected {exc.__class__.__name__}: {exc} (run with -vv for details)",
            EXIT_FAILURE,
            trace=trace,
        )
    sys.exit(result if isinstance(result, int) else 0)


def run() -> None:
    """Process entry point: :func:`main`, then leave without interpreter teardown.

    Every file nostrweet writes is complete (atomic, fsynced) before a command returns, so nothing is
    lost by skipping teardown; what is skipped is the finalization of nostr-sdk's native threads, which
    has been seen to crash a process that had already done its work, turning a success into SIGSEGV.
    """
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        logging.shutdown()
    os._exit(code)
