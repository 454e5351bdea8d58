"""Experiment configuration: YAML file + dotted command-line overrides -> typed dataclasses.

A schema is a ``@dataclass`` whose fields carry type annotations and defaults. Each module that
needs settings defines its own schema next to its code; a competition composes them into one
experiment schema. Validation is strict: an unknown key or a value of the wrong type raises
:class:`ConfigError` naming the dotted key, so a typo in a YAML file never passes silently.

Supported field types: ``int``, ``float``, ``bool``, ``str``, ``X | None``, ``list[X]``,
``tuple[X, ...]``, ``dict[str, X]``, ``Literal[...]``, unions of these, nested dataclasses and
``Any``. An ``int`` is accepted where a ``float`` is expected.

Overrides are ``key.sub=value`` strings; the value is parsed as a YAML scalar or flow collection,
so ``train.epochs=3``, ``model.encoder=tu-resnet34`` and ``loss={bce: 0.1, lovasz_hinge: 0.9}``
all work. ``save_config`` writes the resolved config (atomically) next to a run's outputs.

YAML is read strictly: a key given twice in one mapping is an error naming the key and line,
anchors and aliases (``&a``/``*a``, the "billion laughs" expansion) are refused, and an empty file
is an error rather than a run of every default.

Inheritance: a file may say ``base: other.yaml`` (a path relative to the file, or a list of them,
merged in order) to state only what differs. Bases may have bases; a cycle or a missing base is a
:class:`ConfigError` naming the files. The bases are merged under the file before the command-line
overrides and before validation: sections (dataclass fields) merge key by key, and every other
value (a scalar, a list, a free-form mapping such as ``loss`` or ``gbm.params``, ``null``) given by
the file replaces the base's whole. The typed config, and so every saved config, is the resolved
one: nothing downstream sees ``base``. See docs/configs.md.
"""

from __future__ import annotations

import dataclasses
import types
import typing
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from common.io.atomic import atomic_text_writer

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value, key or file is invalid; the message names the dotted key or file."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases and without duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ConfigError(f"line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are not "
                              f"allowed in configs; write the value out")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"line {line}: duplicate key {key!r} (first given on line {seen[key]})")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` without aliases or duplicate keys (:class:`ConfigError` naming the line)."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def load_config(path: str | Path | None, schema: type[T], overrides: Sequence[str] = ()) -> T:
    """Read a YAML file with its bases (or start from the defaults when ``path`` is None), apply
    overrides, validate."""
    data: dict[str, Any] = {}
    files: list[Path] = []
    if path is not None:
        path = Path(path)
        data = _resolve(path, schema, (), files)
    data = apply_overrides(data, overrides)
    try:
        return config_from_dict(data, schema)
    except ConfigError as exc:
        where = f"{path}: " if path is not None else ""
        if len(files) > 1:
            where = f"{path} (with its base {', '.join(str(f) for f in dict.fromkeys(files[:-1]))}): "
        raise ConfigError(f"{where}{exc}") from None


def experiment_loader(schema: type[T]) -> typing.Callable[..., T]:
    """A competition's ``load_experiment(path, overrides=())``: :func:`load_config` bound to ``schema``
    (what ``stage_command`` and the report hooks call)."""

    def load_experiment(path: str | Path | None, overrides: Sequence[str] = ()) -> T:
        return load_config(path, schema, overrides)

    load_experiment.__doc__ = f"The {schema.__name__} of a YAML file (defaults when None) with dotted overrides."
    return load_experiment


def read_config(path: str | Path, schema: type | None = None) -> dict[str, Any]:
    """The plain mapping a YAML config file states, its bases merged under it, not validated.

    ``schema`` (the experiment dataclass) tells sections from free-form mappings; without it every
    mapping merges key by key, which is right for the values a tool reads without the schema
    (``model.encoder``, ``run.out``, ``ensemble.members``)."""
    return _resolve(Path(path), schema, (), [])


_MERGE_ALL = object()  # schema stand-in: every mapping is a section


def _read_mapping(path: Path) -> dict[str, Any]:
    """The top-level mapping of one YAML file (strict parsing; errors name the file)."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        loaded = _parse_yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if loaded is None:
        raise ConfigError(f"{path}: the config file is empty; start from one of the recipes in configs/")
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(loaded).__name__}")
    return loaded


def _resolve(path: Path, schema: Any, chain: tuple[Path, ...], files: list[Path]) -> dict[str, Any]:
    """``path``'s mapping with its ``base`` files merged under it; ``chain``: the files whose
    bases are being read (a cycle check), ``files``: collects every file read, bases first."""
    here = path.resolve()
    if here in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(here):], here))
        raise ConfigError(f"{chain[-1]}: config inheritance cycle: {cycle}")
    data = _read_mapping(path)
    bases = data.pop("base", None)
    if bases is None:
        files.append(path)
        return data
    names = [bases] if isinstance(bases, str) else bases
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{path}: base must be a file name or a list of file names (relative to the file), "
                          f"got {bases!r}")
    merged: dict[str, Any] = {}
    for name in names:
        base = path.parent / Path(name).expanduser()
        if not base.is_file():
            raise ConfigError(f"{path}: base {name!r} not found (looked for {base})")
        merged = _merge(merged, _resolve(base, schema, (*chain, here), files), schema)
    files.append(path)
    return _merge(merged, data, schema)


def _section(tp: Any) -> Any:
    """The dataclass a value of annotation ``tp`` is a section of (``X | None`` too), else None."""
    if tp is _MERGE_ALL or dataclasses.is_dataclass(tp):
        return tp
    if get_origin(tp) in (Union, types.UnionType):
        sections = [a for a in get_args(tp) if dataclasses.is_dataclass(a)]
        return sections[0] if len(sections) == 1 else None
    return None


def _merge(base: Any, child: Any, tp: Any) -> Any:
    """``child`` over ``base``: where ``tp`` is a section and both are mappings, key by key (the
    child wins); anything else, ``child`` whole."""
    schema = _MERGE_ALL if tp is None else _section(tp)
    if schema is None or not isinstance(base, Mapping) or not isinstance(child, Mapping):
        return _deep_copy(child)
    hints = {} if schema is _MERGE_ALL else get_type_hints(schema)
    result = _deep_copy(dict(base))
    for key, value in child.items():
        if key in result:
            result[key] = _merge(result[key], value, _MERGE_ALL if schema is _MERGE_ALL else hints.get(key, Any))
        else:
            result[key] = _deep_copy(value)
    return result


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``a.b.c=value`` override set (creating mappings as needed)."""
    result = _deep_copy(dict(data))
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        try:
            value = _parse_yaml(raw) if raw.strip() else ""
        except ConfigError as exc:
            raise ConfigError(f"override {item!r}: {exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: cannot parse value: {exc}") from exc
        node = result
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {'.'.join(parts[: depth + 1])} is not a mapping")
            node = child
        node[parts[-1]] = value
    return result


def config_from_dict(data: Mapping[str, Any] | None, schema: type[T]) -> T:
    """Validate a plain mapping into an instance of the dataclass ``schema``."""
    if not dataclasses.is_dataclass(schema):
        raise TypeError(f"{schema!r} is not a dataclass")
    return _convert(data if data is not None else {}, schema, "")


def config_to_dict(cfg: Any) -> Any:
    """Plain-data (YAML-ready) view of a config dataclass; tuples become lists."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, Mapping):
        return {str(k): config_to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, list | tuple):
        return [config_to_dict(v) for v in cfg]
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


def save_config(cfg: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML, atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    with atomic_text_writer(path) as fh:
        fh.write(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return path


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _key(prefix: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{prefix}[{name}]"
    return f"{prefix}.{name}" if prefix else name


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Check/convert ``value`` against annotation ``tp``; ``key`` is the dotted path for errors."""
    where = key or "<root>"
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(value, tp, key)
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return _convert_union(value, get_args(tp), key)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(f"{where}: {value!r} is not one of {list(choices)}")
        return value
    if origin in (list, Sequence, typing.Sequence) or tp is list:
        (item_tp,) = get_args(tp) or (Any,)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        return [_convert(v, item_tp, _key(key, i)) for i, v in enumerate(value)]
    if origin is tuple or tp is tuple:
        return _convert_tuple(value, get_args(tp), key)
    if origin in (dict, Mapping, typing.Mapping) or tp is dict:
        key_tp, val_tp = get_args(tp) or (str, Any)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        return {_convert(k, key_tp, key): _convert(v, val_tp, _key(key, str(k))) for k, v in value.items()}
    return _convert_scalar(value, tp, where)


class RetiredKeyWarning(UserWarning):
    """A config sets a key the schema no longer has (``RETIRED_KEYS`` of its dataclass): ignored, so
    run folders saved by older versions still resume, report and package."""


def _convert_dataclass(value: Any, tp: type, key: str) -> Any:
    where = key or "<root>"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = config_to_dict(value)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {type(value).__name__} {value!r}")
    hints = get_type_hints(tp)
    fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
    retired = getattr(tp, "RETIRED_KEYS", {})
    if any(k in retired and k not in fields for k in value):
        for k in sorted(k for k in value if k in retired and k not in fields):  # old files (saved runs) still load
            warnings.warn(f"{_key(key, str(k))} is ignored: it was removed ({retired[k]})", RetiredKeyWarning,
                          stacklevel=2)
        value = {k: v for k, v in value.items() if k not in retired or k in fields}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        names = ", ".join(_key(key, str(u)) for u in unknown)
        raise ConfigError(f"unknown key(s) {names}; known keys of {where}: {sorted(fields)}")
    kwargs = {}
    for name, field in fields.items():
        if name in value:
            item = value[name]
            default = _field_default(field)
            if isinstance(item, Mapping) and dataclasses.is_dataclass(default):
                item = _overlay(default, item)  # keys the mapping leaves out keep the field's default
            kwargs[name] = _convert(item, hints[name], _key(key, name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{_key(key, name)}: required key is missing")
    return tp(**kwargs)


def _field_default(field: dataclasses.Field) -> Any:
    """The value a dataclass field gets when its key is absent (``MISSING`` when it has none)."""
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _overlay(default: Any, item: Mapping[str, Any]) -> dict[str, Any]:
    """``item`` completed with the values of the dataclass instance ``default`` for the keys it
    leaves out, recursively into nested dataclasses. So a YAML ``model: {encoder: x}`` keeps the
    experiment's own model defaults (Carvana: ``arch: linknet``), not those of ``ModelConfig``."""
    result = dict(item)
    for f in dataclasses.fields(default):
        if not f.init:
            continue
        value = getattr(default, f.name)
        if f.name not in result:
            result[f.name] = config_to_dict(value) if dataclasses.is_dataclass(value) else value
        elif dataclasses.is_dataclass(value) and isinstance(result[f.name], Mapping):
            result[f.name] = _overlay(value, result[f.name])
    return result


def _convert_union(value: Any, options: tuple[Any, ...], key: str) -> Any:
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{key or '<root>'}: must not be null")
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _convert(value, option, key)
        except ConfigError as exc:
            errors.append(str(exc))
    raise ConfigError(
        f"{key or '<root>'}: {value!r} matches none of {[_describe(o) for o in options]} ({'; '.join(errors)})"
    )


def _convert_tuple(value: Any, args: tuple[Any, ...], key: str) -> tuple[Any, ...]:
    where = key or "<root>"
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_convert(v, args[0], _key(key, i)) for i, v in enumerate(value))
    if args and len(args) != len(value):
        raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
    item_types = args or (Any,) * len(value)
    return tuple(_convert(v, t, _key(key, i)) for i, (t, v) in enumerate(zip(item_types, value)))


def _convert_scalar(value: Any, tp: Any, where: str) -> Any:
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {type(value).__name__} {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {type(value).__name__} {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{where}: expected a path string, got {type(value).__name__} {value!r}")
        return Path(value)
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    return value
