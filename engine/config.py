"""Typed, dotted-key access to nested config dataclasses.

Configs are plain (nested) dataclasses. Every leaf has a dotted key such as
``optim.lr``; ``apply_overrides`` sets leaves from TOML values or from
``--set key=value`` strings, type-checked against the field's annotation.
Unknown keys are rejected with the list of close matches.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import typing
from typing import Any

from engine.errors import BenchError


def leaf_types(cfg_type: type, prefix: str = "") -> dict[str, Any]:
    hints = typing.get_type_hints(cfg_type)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg_type):
        ftype = hints[f.name]
        if dataclasses.is_dataclass(ftype):
            out.update(leaf_types(ftype, prefix + f.name + "."))
        else:
            out[prefix + f.name] = ftype
    return out


def resolve_key(cfg_type: type, key: str) -> str:
    """Return the full dotted key for ``key``; a unique leaf name such as
    ``lr`` is accepted for ``optim.lr``."""
    types = leaf_types(cfg_type)
    if key in types:
        return key
    matches = [k for k in types if k.rsplit(".", 1)[-1] == key]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise BenchError(f"ambiguous key '{key}': could be {', '.join(matches)}")
    close = difflib.get_close_matches(key, list(types), n=3)
    if not close:  # a typo of a short alias: compare with the leaf names
        leaves = {k.rsplit(".", 1)[-1]: k for k in types}
        close = [leaves[m] for m in difflib.get_close_matches(key, list(leaves), n=3)]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise BenchError(f"unknown key '{key}'{hint}")


def _parse_scalar(key: str, ftype: Any, value: Any) -> Any:
    """Check/convert one value against a scalar annotation. Strings (from the
    command line) are parsed; TOML values must already have the right type."""
    from_text = isinstance(value, str)
    if ftype is bool:
        if isinstance(value, bool):
            return value
        if from_text and value.lower() in ("true", "yes", "1", "on"):
            return True
        if from_text and value.lower() in ("false", "no", "0", "off"):
            return False
    elif ftype is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_text:
            try:
                return int(value)
            except ValueError:
                pass
    elif ftype is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_text:
            try:
                return float(value)
            except ValueError:
                pass
    elif ftype is str:
        if isinstance(value, str):
            return value
    else:
        raise BenchError(f"key '{key}' has unsupported type {ftype}")
    article = "an" if ftype.__name__[0] in "aeiou" else "a"
    raise BenchError(f"bad value for '{key}': {value!r} is not {article} {ftype.__name__}", key=key)


def parse_value(key: str, ftype: Any, value: Any) -> Any:
    origin = typing.get_origin(ftype)
    if origin is typing.Literal:
        choices = typing.get_args(ftype)
        if value not in choices:
            raise BenchError(
                f"bad value for '{key}': {value!r} is not one of {', '.join(map(str, choices))}", key=key
            )
        return value
    if origin is tuple:
        (item_type, *_rest) = typing.get_args(ftype)
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise BenchError(f"bad value for '{key}': {value!r} is not a list", key=key)
        return tuple(_parse_scalar(key, item_type, v) for v in value)
    return _parse_scalar(key, ftype, value)


def get_value(cfg: Any, key: str) -> Any:
    obj = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def apply_overrides(cfg: Any, overrides: dict[str, Any]) -> Any:
    """Return a copy of ``cfg`` with dotted-key ``overrides`` applied."""
    types = leaf_types(type(cfg))
    for raw_key, raw_value in overrides.items():
        key = resolve_key(type(cfg), raw_key)
        value = parse_value(key, types[key], raw_value)
        cfg = _replace_path(cfg, key.split("."), value)
    return cfg


def _replace_path(obj: Any, parts: list[str], value: Any) -> Any:
    if len(parts) == 1:
        return dataclasses.replace(obj, **{parts[0]: value})
    child = getattr(obj, parts[0])
    return dataclasses.replace(obj, **{parts[0]: _replace_path(child, parts[1:], value)})


def to_dict(cfg: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(cfg_type: type, data: dict[str, Any]) -> Any:
    flat = {}

    def walk(d: dict, prefix: str) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, prefix + k + ".")
            else:
                flat[prefix + k] = v

    walk(data, "")
    return apply_overrides(cfg_type(), flat)


def config_hash(cfg: Any) -> str:
    text = json.dumps(to_dict(cfg), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe_keys(cfg_type: type) -> list[tuple[str, str, str]]:
    """(key, default, help) for every leaf, for --help and the README."""
    rows = []
    default = cfg_type()

    def walk(t: type, prefix: str) -> None:
        hints = typing.get_type_hints(t)
        for f in dataclasses.fields(t):
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name], prefix + f.name + ".")
            else:
                key = prefix + f.name
                rows.append((key, repr(get_value(default, key)), f.metadata.get("help", "")))

    walk(cfg_type, "")
    return rows


def flatten(nested: dict, prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 1}}`` -> ``{"optim.lr": 1}`` (for configs read from JSON)."""
    out: dict[str, Any] = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            out.update(flatten(value, prefix + key + "."))
        else:
            out[prefix + key] = value
    return out
