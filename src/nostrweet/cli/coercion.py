"""Option values coerced without pydantic, for the typer releases that coerce through it.

typer 0.2x (with its own copy of click) coerces every parameter's value, defaults included, through
a pydantic ``TypeAdapter``; the first one imports pydantic, about a sixth of a one-tweet publish's
start. The values our commands get are plain (a str, a list of str, a count, a path), and for those
:func:`install` makes typer do what its adapters do, without pydantic: a str stays itself, a count
stays its int, a path becomes a ``Path`` and gets typer's own checks (``coerce_cli_path``). Any other
value (an Enum choice, an int given as text, a number with bounds) still goes to typer's adapter, so
its messages stay typer's. With a typer that uses click's types, :func:`install` does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

try:
    from typer import _coercion, _param_types, core
except ImportError:  # (a typer that coerces with click's types)
    _coercion = None  # type: ignore[assignment]

_NOT_PLAIN = object()


def _kind(annotation: Any, info: Any) -> str | None:
    """Which plain kind a parameter is, or None when typer's adapter must coerce it."""
    if info.parser is not None or getattr(info, "path_type", None) is not None:
        return None
    if annotation is str and not _param_types.routes_to_path(annotation, info):
        return "str"
    if annotation is int and info.min is None and info.max is None and not info.clamp:
        return "int"
    if annotation is Path:
        return "path"
    if get_origin(annotation) is list and get_args(annotation) == (str,):
        return "strs"
    return None


def _plain_value(kind: str | None, value: Any, info: Any, param: Any, ctx: Any) -> Any:
    """The value typer's adapter would give, or :data:`_NOT_PLAIN` for the adapter to coerce."""
    if kind == "str" and isinstance(value, str):
        return str(value)
    if kind == "int" and type(value) is int:
        return value
    if kind == "path" and isinstance(value, str) and value:
        return _param_types.coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    if kind == "strs" and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    return _NOT_PLAIN


if _coercion is not None:

    @dataclass(frozen=True)
    class PlainParam(_coercion.RuntimeParam):
        """A parameter's coercion: a plain value here, any other with typer's own (built on first use)."""

        kind: str | None
        descriptor: Any
        adapted: list[Any] = field(default_factory=list)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            plain = _plain_value(self.kind, value, self.parameter_info, param, ctx)
            if plain is not _NOT_PLAIN:
                return plain
            if not self.adapted:
                self.adapted.append(_coercion.build_runtime_param(self.descriptor))
            return self.adapted[0]._coerce_value(value, param=param, ctx=ctx)


def install() -> None:
    """Coerce plain option values without pydantic (see the module docstring); once per process."""
    parameter = getattr(core, "_TyperParameter", None) if _coercion is not None else None
    if parameter is None or getattr(parameter, "_plain_values", False):
        return
    typer_param = parameter.get_runtime_param

    def get_runtime_param(self: Any) -> Any:
        descriptor = self.type_descriptor
        if self._runtime_param is None and descriptor.file_annotation is None:
            self._runtime_param = PlainParam(
                parameter_info=descriptor.parameter_info,
                annotation=descriptor.annotation,
                kind=_kind(descriptor.annotation, descriptor.parameter_info),
                descriptor=descriptor,
            )
        return typer_param(self)

    parameter.get_runtime_param = get_runtime_param
    parameter._plain_values = True
