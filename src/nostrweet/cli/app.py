"""The ``nostrweet`` entry point: the error boundary and exit codes (SPEC §1).

Commands live in sibling modules (``archive_cmds``, ``publish_cmds``, ``daemon_cmd``, ``utils_cmds``, …)
and register themselves on ``cli.root``'s app, which holds the global options; the root group imports
only the module of the command that runs (``cli.registry``). This module runs the command, and turns every error into one line on stderr and the exit code of SPEC §1; a
traceback shows only at ``-vv``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import NoReturn

import typer

from nostrweet.cli.argv import OptionNames, hoist_global_options
from nostrweet.cli.registry import COMMANDS
from nostrweet.cli.root import app as app
from nostrweet.cli.root import state
from nostrweet.errors import EXIT_BAD_INPUT, EXIT_FAILURE, NostrweetError, describe_os_error
from nostrweet.logs import scrub
from nostrweet.textsafe import printable


def _fail(message: str, code: int, hint: str | None = None, trace: str | None = None) -> NoReturn:
    """Report an error as one line on stderr (a JSON object with ``--log-format json``) and exit."""
    message = printable(scrub(message))  # relay and X text can reach an error message
    if state.log_format == "json":
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


def _load_named_command(args: list[str], group: typer.core.TyperGroup) -> None:
    """Import the module of the command ``args`` name (after the global options), so that hoisting
    sees its options; the others stay unimported (``cli.registry``)."""
    globals_ = OptionNames.of(group.params)
    i = 0
    while i < len(args) and (width := globals_.width(args[i])) is not None:
        i += width
    if i < len(args) and args[i] in COMMANDS:
        group.get_command(None, args[i])  # type: ignore[arg-type]


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
    trace = None
    if state.verbosity >= 2:
        import traceback

        trace = traceback.format_exc()
    if isinstance(exc, NostrweetError):
        _fail(str(exc), exc.exit_code, trace=trace)
    if isinstance(exc, OSError):  # the disk or the network, outside any typed error
        _fail(describe_os_error(exc, state.data_dir), EXIT_FAILURE, trace=trace)
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
    dotenv = Path.cwd() / ".env"
    if dotenv.is_file():  # python-dotenv is imported only when there is a file to read
        from dotenv import load_dotenv

        load_dotenv(dotenv, override=False)
    state.log_format = _requested_log_format(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    if isinstance(command, typer.core.TyperGroup):
        _load_named_command(args, command)
    args = hoist_global_options(args, command)
    try:
        result = command.main(args=args, prog_name="nostrweet", standalone_mode=False)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        _handle(exc)
    sys.exit(result if isinstance(result, int) else 0)


def run() -> None:
    """Process entry point (the ``nostrweet`` script): :func:`main`, with the usual interpreter exit."""
    main()
