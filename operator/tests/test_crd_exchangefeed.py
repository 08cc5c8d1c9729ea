"""The ExchangeFeed CRD: well-formed for the API server, and the same schema local files obey.

Example feeds must pass and hostile ones must fail with a message naming the problem, through
``alphapulse.feeds.validate_feed_document`` (jsonschema + cel-python), which is what
``alphapulse up -f`` and the operator use.
"""

from pathlib import Path
from typing import Any

import celpy
import jsonschema
import pytest
import yaml
from celpy.adapter import json_to_cel
from manifest_checks import kube_validate

from alphapulse.errors import ConfigError
from alphapulse.feeds import crd_schema, validate_feed_document
from alphapulse_operator.observing import conflict_status, invalid_status, merge_conditions, observe

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "exchangefeeds.alphapulse.io.yaml"
EXAMPLES = sorted((ROOT / "charts" / "alphapulse" / "examples").glob("*.yaml"))
CRD = yaml.safe_load(CRD_PATH.read_text())


def feed(name: str = "ok-feed", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "alphapulse.io/v1alpha1",
        "kind": "ExchangeFeed",
        "metadata": {"name": name},
        "spec": {"exchange": "kraken", "symbols": ["BTC-USD"], **spec},
    }


def test_crd_is_a_valid_custom_resource_definition() -> None:
    kube_validate(CRD)
    (version,) = CRD["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert CRD["spec"]["names"]["shortNames"] == ["xf"]


def _walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    nodes = [(path, schema)]
    for key, sub in (schema.get("properties") or {}).items():
        nodes += _walk(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        nodes += _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        nodes += _walk(schema["additionalProperties"], f"{path}{{}}")
    return nodes


def test_schema_is_structural_and_cel_cost_bounded() -> None:
    for path, node in _walk(crd_schema()):
        assert "type" in node, f"{path or '.'} has no type (structural schemas need one everywhere)"
        if node["type"] == "array":
            assert "maxItems" in node, f"{path}: unbounded list makes CEL cost estimates fail"
        if node["type"] == "string" and path.startswith(".spec"):
            assert "maxLength" in node or "enum" in node, f"{path}: unbounded string"


def test_every_cel_rule_compiles() -> None:
    env = celpy.Environment()
    rules = [r["rule"] for _, node in _walk(crd_schema()) for r in node.get("x-kubernetes-validations", [])]
    assert len(rules) >= 5
    for rule in rules:
        env.compile(rule)


def test_printer_columns_point_at_schema_fields() -> None:
    (version,) = CRD["spec"]["versions"]
    paths = {p for p, _ in _walk(crd_schema())}
    names = [c["name"] for c in version["additionalPrinterColumns"]]
    assert names[:6] == ["Exchange", "Symbols", "Node", "Ready", "Rate", "Age"]
    for col in version["additionalPrinterColumns"]:
        jp = col["jsonPath"].split("[")[0]
        assert jp.startswith(".metadata") or jp in paths, f"{col['name']}: {col['jsonPath']} is not in the schema"


def test_defaults_are_applied() -> None:
    doc = validate_feed_document(feed())
    assert doc["spec"]["channels"] == ["trades", "quotes", "book"]
    assert doc["spec"]["depth"] == 10


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_are_valid(path: Path) -> None:
    docs = list(yaml.safe_load_all(path.read_text()))
    assert docs
    for doc in docs:
        validate_feed_document(doc, str(path))


HOSTILE = {
    "unknown-exchange": (feed(exchange="mtgox"), "exchange"),
    "lowercase-symbol": (feed(symbols=["btc-usd"]), "symbols"),
    "symbol-injection": (feed(symbols=["BTC-USD; rm -rf /"]), "symbols"),
    "no-symbols": (feed(symbols=[]), "symbols"),
    "too-many-symbols": (feed(symbols=[f"S{i}-USD" for i in range(201)]), "symbols"),
    "duplicate-symbols": (feed(symbols=["BTC-USD", "BTC-USD"]), "symbols"),
    "unknown-channel": (feed(channels=["trades", "orders"]), "channels"),
    "depth-too-large": (feed(depth=100000), "depth"),
    "depth-string": (feed(depth="10"), "depth"),
    "url-not-websocket": (feed(url="file:///etc/passwd"), "url"),
    "rest-without-url": (feed(restUrl="http://127.0.0.1:9444"), "restUrl"),
    "dedicated-without-cpus": (feed(resources={"dedicatedCpus": True}), "dedicatedCpus"),
    "busy-poll-on-shared-cpus": (feed(resources={"cpus": 2, "busyPoll": True}), "busyPoll"),
    "fractional-cpus": (feed(resources={"cpus": 1.5}), "cpus"),
    "time-slice-below-the-kernels": (feed(resources={"timeSliceUs": 50}), "timeSliceUs"),
    "time-slice-above-the-kernels": (feed(resources={"timeSliceUs": 200_000}), "timeSliceUs"),
    "time-slice-string": (feed(resources={"timeSliceUs": "100"}), "timeSliceUs"),
    "memory-garbage": (feed(resources={"memory": "lots"}), "memory"),
    "exists-with-value": (
        feed(placement={"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}),
        "Exists",
    ),
    "toleration-seconds-noschedule": (
        feed(placement={"tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]}),
        "NoExecute",
    ),
    "bad-node-name": (feed(placement={"nodeName": "Node_1"}), "nodeName"),
    "name-uppercase": (feed(name="Kraken"), "name"),
    "name-path-traversal": (feed(name="../../etc"), "name"),
    "name-too-long": (feed(name="a" * 61), "name"),
    "spec-not-a-mapping": ({**feed(), "spec": ["kraken"]}, "spec"),
    "missing-exchange": ({**feed(), "spec": {"symbols": ["BTC-USD"]}}, "exchange"),
    "wrong-kind": ({**feed(), "kind": "Pod"}, "kind"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_feeds_are_rejected_with_a_clear_message(case: str) -> None:
    doc, needle = HOSTILE[case]
    with pytest.raises(ConfigError, match=needle):
        validate_feed_document(doc, "hostile.yaml")


def test_root_name_rule_matches_the_api_server_rule() -> None:
    # The CRD's root CEL rule (what the API server enforces) rejects what the loader rejects.
    (rule,) = crd_schema()["x-kubernetes-validations"]
    env = celpy.Environment()
    program = env.program(env.compile(rule["rule"]))
    for name, ok in [("kraken-1", True), ("a" * 60, True), ("a" * 61, False), ("-x", False), ("X", False)]:
        doc = json_to_cel({"metadata": {"name": name}})
        assert bool(program.evaluate({"self": doc})) is ok, name


def test_operator_status_conforms_to_the_status_schema() -> None:
    status_schema = crd_schema()["properties"]["status"]
    validator = jsonschema.Draft7Validator(status_schema, format_checker=jsonschema.FormatChecker())
    ready = {"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 1}
    for obs in [
        observe(2, None, []),
        observe(
            2,
            {"metadata": {"name": "c", "generation": 1}, "status": ready},
            [{"metadata": {"name": "p"}, "spec": {"nodeName": "n"}}],
        ),
        invalid_status(2, "bad"),
        conflict_status(2, "taken"),
    ]:
        status = {
            "observedGeneration": 2,
            "phase": obs.phase,
            "node": obs.node or "n",
            "messageRate": 12.5,
            "symbolCount": 3,
            "collector": "collector-x",
            "conditions": merge_conditions([], obs.conditions, "2026-11-25T13:00:00Z"),
        }
        errors = [e.message for e in validator.iter_errors(status)]
        assert not errors, errors
