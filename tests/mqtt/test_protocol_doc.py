"""docs/protocol.md stays true: its examples validate and its schemas match the models."""

import json
import re
from pathlib import Path

import pytest

from mqtt import alerts, chain, commerce, payloads, recalls, schema_doc

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
EXAMPLE = re.compile(r"<!-- example: (\w+) -->\s*```json\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    return EXAMPLE.findall(DOC.read_text(encoding="utf-8"))


def test_every_documented_model_has_an_example() -> None:
    named = {name for name, _ in examples()}
    assert {m.__name__ for m in schema_doc.DOCUMENTED} - {"StockGetArgs", "CartCreateArgs", "CartSetLineArgs",
                                                         "PlaceOrderArgs"} <= named


@pytest.mark.parametrize("name,body", examples(), ids=[f"{n}-{i}" for i, (n, _) in enumerate(examples())])
def test_examples_validate_against_their_model(name: str, body: str) -> None:
    model = (getattr(payloads, name, None) or getattr(commerce, name, None) or getattr(chain, name, None)
             or getattr(recalls, name, None) or getattr(alerts, name))
    decoded = payloads.decode(model, body.encode())
    assert json.loads(payloads.encode(decoded))  # and they survive a round trip


def test_generated_schemas_are_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert schema_doc.splice(text) == text, "run: python -m mqtt.schema_doc docs/protocol.md"


def test_every_topic_builder_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for pattern in ("aisle/v1/{store}/info", "aisle/v1/{store}/catalog/{sku}", "aisle/v1/{store}/stock/{sku}",
                    "aisle/v1/{store}/alerts/{alert_id}", "aisle/v1/{store}/staff/revoked", "aisle/v1/{store}/recalls",
                    "/device/{device}/req",
                    "/device/{device}/reply/{nonce}", "/device/{device}/status", "/device/{device}/event",
                    "aisle/v1/_backend/{backend}/status", "aisle/v1/_chain/{site}/live",
                    "aisle/v1/_chain/hq/head/{store}", "aisle/v1/_chain/{target}/{source}/req",
                    "aisle/v1/_chain/{target}/{source}/reply/{nonce}"):
        assert pattern in text
