"""ExchangeFeed documents: load, default and validate them against the CRD in ``crds/``.

The same YAML that ``kubectl apply`` takes is what ``alphapulse collector -f`` and
``alphapulse up -f`` take. Validation mirrors the API server: defaults from the schema, the
structural OpenAPI v3 schema (via jsonschema), then the CEL ``x-kubernetes-validations`` rules.
"""

import copy
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml
from celpy.adapter import json_to_cel

from alphapulse.errors import ConfigError

__all__ = (
    "API_VERSION",
    "KIND",
    "ExchangeFeed",
    "crd_schema",
    "load_feed_file",
    "load_feeds",
    "parse_feed",
    "validate_feed_document",
)

API_VERSION = "alphapulse.io/v1alpha1"
KIND = "ExchangeFeed"
_CRD_PATH = Path(__file__).with_name("exchangefeed.crd.yaml")
_NAME_MAX = 60  # names a socket file, a Deployment and a FEED frame (60 bytes on the wire)


@dataclass(frozen=True, slots=True)
class ExchangeFeed:
    name: str
    exchange: str
    symbols: tuple[str, ...]
    channels: tuple[str, ...]
    url: str | None = None
    rest_url: str | None = None
    depth: int = 10
    namespace: str | None = None
    spec: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@functools.cache
def _crd() -> dict[str, Any]:
    path = Path(os.environ.get("ALPHAPULSE_CRD_PATH") or _CRD_PATH)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read the ExchangeFeed CRD at {path}: {e}") from e
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} is not a CustomResourceDefinition")
    return doc


def crd_schema(version: str = "v1alpha1") -> dict[str, Any]:
    for v in _crd()["spec"]["versions"]:
        if v["name"] == version:
            schema = v["schema"]["openAPIV3Schema"]
            assert isinstance(schema, dict)
            return schema
    raise ConfigError(f"the ExchangeFeed CRD has no version {version}")


def _apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict) and schema.get("type") == "object":
        for key, sub in schema.get("properties", {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = _apply_defaults(sub, value[key])
    elif isinstance(value, list) and "items" in schema:
        return [_apply_defaults(schema["items"], v) for v in value]
    return value


def _cel_rules(schema: dict[str, Any], value: Any, path: str) -> Iterator[tuple[str, str, str, Any]]:
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule["rule"], rule.get("message", f"failed rule: {rule['rule']}"), value
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                yield from _cel_rules(sub, value[key], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from _cel_rules(schema["items"], item, f"{path}[{i}]")


@functools.cache
def _cel_program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _check_cel(schema: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    problems = []
    for path, rule, message, value in _cel_rules(schema, doc, ""):
        try:
            ok = _cel_program(rule).evaluate({"self": json_to_cel(value)})
        except Exception as e:  # a rule that cannot evaluate is reported, like the API server does
            problems.append(f"{path or '.'}: rule {rule!r} could not be evaluated: {e}")
            continue
        if not bool(ok):
            problems.append(f"{path or '.'}: {message}")
    return problems


def validate_feed_document(doc: Any, source: str = "<feed>") -> dict[str, Any]:
    """Default and validate one document; return it defaulted, or raise ConfigError naming every problem."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a mapping (an ExchangeFeed document), got {type(doc).__name__}")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise ConfigError(
            f"{source}: expected apiVersion {API_VERSION} and kind {KIND}, "
            f"got {doc.get('apiVersion')!r} / {doc.get('kind')!r}"
        )
    metadata = doc.get("metadata") or {}
    if not isinstance(metadata, dict):
        # found by fuzzing: a list or scalar here used to escape as AttributeError, not ConfigError
        raise ConfigError(f"{source}: metadata must be a mapping with a name (it names the feed socket)")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: metadata.name is required (it names the feed socket)")
    if len(name) > _NAME_MAX or not all(c.isalnum() or c == "-" for c in name) or name != name.lower():
        raise ConfigError(
            f"{source}: metadata.name {name!r} must be a DNS label: lowercase letters, digits and '-', "
            f"at most {_NAME_MAX} characters"
        )
    schema = crd_schema()
    defaulted: dict[str, Any] = _apply_defaults(schema, copy.deepcopy(doc))
    validator = jsonschema.Draft7Validator(schema)
    problems = [
        f"{'.'.join(str(p) for p in err.absolute_path) or '.'}: {err.message}"
        for err in sorted(validator.iter_errors(defaulted), key=lambda e: list(e.absolute_path))
    ]
    if not problems:
        problems = _check_cel(schema, defaulted)
    if problems:
        raise ConfigError(f"{source}: feed {name!r} is invalid:\n  " + "\n  ".join(problems))
    return defaulted


def parse_feed(doc: dict[str, Any], source: str = "<feed>") -> ExchangeFeed:
    doc = validate_feed_document(doc, source)
    spec = doc["spec"]
    return ExchangeFeed(
        name=doc["metadata"]["name"],
        namespace=doc["metadata"].get("namespace"),
        exchange=spec["exchange"],
        symbols=tuple(spec["symbols"]),
        channels=tuple(spec["channels"]),
        url=spec.get("url"),
        rest_url=spec.get("restUrl"),
        depth=spec.get("depth", 10),
        spec=spec,
    )


def load_feeds(text: str, source: str = "<feed>") -> list[ExchangeFeed]:
    """Every ExchangeFeed in a (multi-document) YAML text; other kinds are ignored like ``kubectl`` would apply them."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from e
    feeds = [
        parse_feed(d, f"{source} (document {i + 1})")
        for i, d in enumerate(docs)
        if not isinstance(d, dict) or d.get("kind") == KIND or "kind" not in d
    ]
    names = [f.name for f in feeds]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: feed names must be unique, got {names}")
    return feeds


def load_feed_file(path: str | os.PathLike[str]) -> list[ExchangeFeed]:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read feed file {p}: {e.strerror}") from e
    feeds = load_feeds(text, str(p))
    if not feeds:
        raise ConfigError(f"{p}: no ExchangeFeed documents found")
    return feeds
