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

import typer
from dotenv import load_dotenv

from nostrweet import __version__
from nostrweet.cli.argv import hoist_global_options
from nostrweet.cli.choices import KeyDerivationChoice, LogFormatChoice
from nostrweet.errors import EXIT_BAD_INPUT, EXIT_FAILURE, NostrweetError, describe_os_error
from nostrweet.logs import configure_logging, register_secret, scrub
from nostrweet.settings import DEFAULT_API_URL, DEFAULT_DATA_DIR, GlobalOptions, resolve_global_options
from nostrweet.textsafe import printable

app = typer.Typer(
    name="nostrweet",
    help="Mirror Twitter/X accounts onto Nostr.",
    add_completion=True,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)

_verbosity = 0
_log_format = "text"
_data_dir: str | None = None
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
    global _verbosity, _log_format, _data_dir
    _verbosity = verbose
    _data_dir = str(data_dir) if data_dir is not None else None
    if log_format is LogFormatChoice.json:
        _log_format = "json"  # so that an error in the options below is reported as JSON too
    for secret in (bearer_token, mnemonic):
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
    )
    for value in (options.bearer_token, options.mnemonic):
        if value is not None:
            register_secret(value.reveal())
    configure_logging(options.log_level, options.log_format, options.verbosity)
    _log_format = options.log_format
    _data_dir = str(options.data_dir)
    for warning in options.warnings:
        log.warning("%s", warning)
    ctx.obj = options
    ctx.meta["config_path"] = config


def options_of(ctx: typer.Context) -> GlobalOptions:
    """The resolved global options of the running command."""
    obj = ctx.find_root().obj
    assert isinstance(obj, GlobalOptions)
    return obj


def _fail(message: str, code: int, hint: str | None = None, trace: str | None = None) -> NoReturn:
    """Report an error as one line on stderr (a JSON object with ``--log-format json``) and exit."""
    message = printable(scrub(message))  # relay and X text can reach an error message
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


def _usage_message(exc: Exception) -> str:
    # Typer marks every option as show_envvar, and click then appends "(env var: 'None')" to the
    # errors of options that have no environment variable.
    return _format_message(exc).replace(" (env var: 'None')", "").replace("\n", " ")


def _usage_hint(exc: Exception) -> str:
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or "nostrweet"
    return f"Try '{path} --help'."


def _format_message(exc: Exception) -> str:
    format_message = getattr(exc, "format_message", None)
    return str(format_message()) if callable(format_message) else str(exc)


def _kinds(exc: BaseException) -> set[str]:
    """The names of the exception's classes.

    Click's exceptions are matched by name: typer up to 0.19 raises click's own classes, later
    versions raise those of the copy of click that they carry inside, which ``click`` does not know.
    """
    return {cls.__name__ for cls in type(exc).__mro__}


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return getattr(source, "name", None) == "COMMANDLINE"


def _register_commands() -> None:
    # Imported for their side effect of adding commands to `app`.
    from nostrweet.cli import (  # noqa: F401
        archive_cmds,
        config_cmd,
        daemon_cmd,
        import_cmd,
        keys_cmd,
        mnemonic_cmd,
        nip05_cmd,
        publish_cmds,
        utils_cmds,
    )


def _handle(exc: Exception) -> NoReturn:
    """Map an exception that left a command to one line on stderr and the exit code of SPEC §1."""
    kinds = _kinds(exc)
    if "Exit" in kinds and isinstance(getattr(exc, "exit_code", None), int):
        sys.exit(getattr(exc, "exit_code"))  # noqa: B009
    if "NoArgsIsHelpError" in kinds:
        sys.exit(EXIT_BAD_INPUT)  # the help text is already printed; no empty error line after it
    if "UsageError" in kinds:
        _fail(_usage_message(exc), EXIT_BAD_INPUT, _usage_hint(exc))
    if "ClickException" in kinds:
        code = getattr(exc, "exit_code", EXIT_FAILURE)
        _fail(_format_message(exc).replace("\n", " "), code if isinstance(code, int) else EXIT_FAILURE)
    if "ShellDetectionFailure" in kinds:  # --show-completion/--install-completion outside a known shell
        _fail("cannot tell which shell is running: run this from the shell that should complete nostrweet", 1)
    if "Abort" in kinds and not isinstance(exc, NostrweetError):
        _fail("aborted", EXIT_FAILURE)
    trace = traceback.format_exc() if _verbosity >= 2 else None
    if isinstance(exc, NostrweetError):
        _fail(str(exc), exc.exit_code, trace=trace)
    if isinstance(exc, OSError):  # the disk or the network, outside any typed error
        _fail(describe_os_error(exc, _data_dir), EXIT_FAILURE, trace=trace)
    _fail(
        f"unexpected {exc.__class__.__name__}: {exc} (run with -vv for details)",
        EXIT_FAILURE,
        trace=trace,
    )


def _requested_log_format(argv: list[str]) -> str:
    """``--log-format`` as given, read before parsing, so that a usage error is reported in it too."""
    value = os.environ.get("NOSTRWEET_LOG_FORMAT", "")
    for i, arg in enumerate(argv):
        if arg == "--log-format" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--log-format="):
            value = arg.partition("=")[2]
    return "json" if value.lower() == "json" else "text"


def main(argv: list[str] | None = None) -> None:
    """Console entry point: load ``.env``, run the command, map errors to one line and an exit code."""
    global _log_format
    load_dotenv(Path.cwd() / ".env", override=False)
    _log_format = _requested_log_format(sys.argv[1:] if argv is None else argv)
    _register_commands()
    command = typer.main.get_command(app)
    args = hoist_global_options(sys.argv[1:] if argv is None else argv, command)
    try:
        result = command.main(args=args, prog_name="nostrweet", standalone_mode=False)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        _handle(exc)
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
