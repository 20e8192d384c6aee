"""Check a request's path and query parameters against the X API v2 OpenAPI spec (2.166). Pure.

`validate_request("GET", "/2/users/12/tweets", {"max_results": "500"})` returns a list of readable
violations, empty when the request is valid. `match_path` finds the path template of any spec path.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.data import OPENAPI_SPEC

# Query names a recorded real request used but the 2.166 spec lacks, allowed narrowly per operation.
# Every recorded request URL in the fixtures validates today, so this is empty; add an entry (with a
# comment naming the recording) rather than loosening the checks.
ALLOWED_DEVIATIONS: dict[tuple[str, str], set[str]] = {}

Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Operation:
    """One (method, path template) of the spec with its resolved parameters."""

    method: str
    template: str
    path_params: dict[str, Schema]
    query_params: dict[str, Schema]  # name -> resolved parameter object (with "schema")


@functools.cache
def load_spec(path: Path = OPENAPI_SPEC) -> dict[str, Any]:
    """The parsed spec (once per process)."""
    spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return spec


def _resolve(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """Resolve `$ref`s (recursively, for dicts and lists) against the spec's components."""
    if depth > 20:
        return node
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            target: Any = spec
            for part in ref.lstrip("#/").split("/"):
                target = target[part]
            return _resolve(spec, target, depth + 1)
        return {k: _resolve(spec, v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(spec, v, depth + 1) for v in node]
    return node


@functools.cache
def operations(path: Path = OPENAPI_SPEC) -> dict[tuple[str, str], Operation]:
    """Every (METHOD, template) of the spec, parameters resolved."""
    spec = load_spec(path)
    out: dict[tuple[str, str], Operation] = {}
    for template, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method == "parameters" or not isinstance(op, dict):
                continue
            pp: dict[str, Schema] = {}
            qp: dict[str, Schema] = {}
            for raw in [*shared, *op.get("parameters", [])]:
                param = _resolve(spec, raw)
                if param.get("in") == "path":
                    pp[param["name"]] = param
                elif param.get("in") == "query":
                    qp[param["name"]] = param
            out[(method.upper(), template)] = Operation(method.upper(), template, pp, qp)
    return out


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def match_path(method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
    """The operation whose template matches `path` best (most literal segments), with path params."""
    found = _match(method.upper(), path)
    return None if found is None else (found[0], dict(found[1]))


@functools.lru_cache(maxsize=8192)
def _match(method: str, path: str) -> tuple[Operation, tuple[tuple[str, str], ...]] | None:
    """:func:`match_path`, remembered per request path: the fake answers the same paths again and again
    (a poll per user), and the spec is fixed for the process."""
    segs = _segments(path)
    best: tuple[int, Operation, dict[str, str]] | None = None
    for op, tsegs in _by_shape().get((method, len(segs)), []):
        params: dict[str, str] = {}
        literal = 0
        for t, s in zip(tsegs, segs, strict=True):
            if t.startswith("{") and t.endswith("}"):
                params[t[1:-1]] = s
            elif t == s:
                literal += 1
            else:
                break
        else:
            if best is None or literal > best[0]:
                best = (literal, op, params)
    return None if best is None else (best[1], tuple(best[2].items()))


@functools.cache
def _by_shape() -> dict[tuple[str, int], list[tuple[Operation, list[str]]]]:
    """The spec's operations by (METHOD, number of path segments), in the spec's order."""
    shapes: dict[tuple[str, int], list[tuple[Operation, list[str]]]] = {}
    for (method, template), op in operations().items():
        tsegs = _segments(template)
        shapes.setdefault((method, len(tsegs)), []).append((op, tsegs))
    return shapes


def endpoint_template(method: str, path: str) -> str | None:
    """The spec path template for a request path, e.g. '/2/users/{id}/tweets'."""
    found = match_path(method, path)
    return None if found is None else found[0].template


def _check_date_time(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in value


def check_value(name: str, value: str, schema: Schema) -> list[str]:
    """Violations of one parameter value (as sent in the URL) against its resolved schema.

    Arrays are comma-separated (every array parameter of the X spec has explode=false).
    """
    if "oneOf" in schema or "anyOf" in schema:
        options = schema.get("oneOf") or schema.get("anyOf") or []
        results = [check_value(name, value, s) for s in options]
        return [] if any(not r for r in results) else results[0]
    if "allOf" in schema:
        return [v for s in schema["allOf"] for v in check_value(name, value, s)]
    kind = schema.get("type")
    if kind == "array":
        items = value.split(",")
        problems: list[str] = []
        if "minItems" in schema and len(items) < schema["minItems"]:
            problems.append(f"{name}: needs at least {schema['minItems']} item(s), got {len(items)}")
        if "maxItems" in schema and len(items) > schema["maxItems"]:
            problems.append(f"{name}: at most {schema['maxItems']} items allowed, got {len(items)}")
        if schema.get("uniqueItems") and len(set(items)) != len(items):
            problems.append(f"{name}: items must be unique")
        item_schema = schema.get("items", {})
        for item in items:
            problems += check_value(name, item, item_schema)
        return problems
    if kind == "integer":
        try:
            number = int(value)
        except ValueError:
            return [f"{name}: {value!r} is not an integer"]
        if "minimum" in schema and number < schema["minimum"]:
            return [f"{name}: {number} is below the minimum {schema['minimum']}"]
        if "maximum" in schema and number > schema["maximum"]:
            return [f"{name}: {number} is above the maximum {schema['maximum']}"]
        return []
    if kind == "boolean":
        return [] if value in ("true", "false") else [f"{name}: {value!r} is not a boolean"]
    problems = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{name}: {value!r} is not one of the allowed values")
    if "minLength" in schema and len(value) < schema["minLength"]:
        problems.append(f"{name}: {value!r} is shorter than {schema['minLength']}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        problems.append(f"{name}: value is longer than {schema['maxLength']}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        problems.append(f"{name}: {value!r} does not match {schema['pattern']}")
    if schema.get("format") == "date-time" and not _check_date_time(value):
        problems.append(f"{name}: {value!r} is not an RFC 3339 date-time")
    return problems


def _pairs(query: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    if isinstance(query, Mapping):
        return [(str(k), str(v)) for k, v in query.items()]
    return [(str(k), str(v)) for k, v in query]


def validate_request(
    method: str, path: str, query: Mapping[str, str] | Iterable[tuple[str, str]] = ()
) -> list[str]:
    """Human-readable violations of a request against the spec; empty means valid."""
    found = match_path(method, path)
    if found is None:
        return [f"{method.upper()} {path}: no such operation in the OpenAPI spec"]
    op, path_values = found
    problems: list[str] = []
    for name, value in path_values.items():
        param = op.path_params.get(name)
        if param is not None:
            problems += check_value(name, value, param.get("schema", {}))
    pairs = _pairs(query)
    seen: set[str] = set()
    allowed = ALLOWED_DEVIATIONS.get((op.method, op.template), set())
    for name, value in pairs:
        if name in seen:
            problems.append(f"{name}: given more than once")
        seen.add(name)
        param = op.query_params.get(name)
        if param is None:
            if name not in allowed:
                problems.append(f"{name}: unknown query parameter for {op.method} {op.template}")
            continue
        problems += check_value(name, value, param.get("schema", {}))
    for name, param in op.query_params.items():
        if param.get("required") and name not in seen:
            problems.append(f"{name}: required query parameter is missing")
    return [f"{op.method} {op.template}: {p}" for p in problems]
