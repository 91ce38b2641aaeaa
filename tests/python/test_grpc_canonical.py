"""Protobuf's canonical JSON mapping through a real gRPC target: a grpcio
service echoing every corner of the mapping (canonical.proto) and the tonic
example target, each behind a real `micromcp grpc-service` and `micromcp
gateway`, called through the official Python MCP client — 64-bit integers
exact as strings (numbers accepted), bytes in base64, enums by name (numbers
accepted), NaN and Infinity as strings, the well-known types, `null` for a
wrapper; schemas closed so an unknown field is named in the error."""

from __future__ import annotations


import pytest

from test_grpc_targets import TONIC_TARGET, connect, processes, tools_once  # noqa: F401

pytestmark = pytest.mark.anyio

BIG = 2**63 - 3  # far above 2^53: a double cannot hold it
HUGE = 2**64 - 5


@pytest.fixture
def canonical(tmp_path, processes):  # noqa: F811
    target = processes.python_target("canonical_server.py", tmp_path / "stubs")
    _, line = processes.start([TONIC_TARGET], needle="grpc-target on")
    inventory = int(line.strip().rsplit(":", 1)[1])
    return processes.gateway(tmp_path, {"c": processes.translator(target), "inv": processes.translator(inventory)})


async def echo(url: str, arguments: dict):
    async with connect(url) as client:
        await tools_once(client, {"c.Canonical.Echo"})
        return await client.call_tool("c.Canonical.Echo", arguments)


async def test_64_bit_integers_are_exact_strings_and_numbers_are_accepted(canonical):
    async with connect(canonical) as client:
        tools = await tools_once(client, {"c.Canonical.Echo", "inv.Inventory.Restock"})
        as_numbers = await client.call_tool("c.Canonical.Echo", {
            "signed": -BIG, "unsigned": HUGE, "fixed": HUGE, "zigzag": -BIG, "sfixed": BIG,
            "counts": {"a": BIG}, "many": [HUGE, 1], "bigWrapped": -BIG})
        as_strings = await client.call_tool("c.Canonical.Echo", {
            "signed": str(-BIG), "unsigned": str(HUGE), "fixed": str(HUGE), "zigzag": str(-BIG),
            "sfixed": str(BIG), "counts": {"a": str(BIG)}, "many": [str(HUGE)], "bigWrapped": str(-BIG)})
        restocked = await client.call_tool("inv.Inventory.Restock", {"sku": "A-1", "quantity": HUGE})
        restocked_text = await client.call_tool("inv.Inventory.Restock", {"sku": "A-1", "quantity": str(HUGE)})
    schema = tools["c.Canonical.Echo"].input_schema["properties"]
    for name in ("signed", "unsigned", "fixed", "zigzag", "sfixed"):
        assert set(schema[name]["type"]) == {"string", "integer"}, schema[name]
        assert "pattern" in schema[name], schema[name]
    for result in (as_numbers, as_strings):
        assert not result.is_error, result
        answer = result.structured_content
        assert answer["signed"] == str(-BIG) and answer["unsigned"] == str(HUGE), answer
        assert answer["fixed"] == str(HUGE) and answer["zigzag"] == str(-BIG) and answer["sfixed"] == str(BIG), answer
        assert answer["counts"] == {"a": str(BIG)} and answer["bigWrapped"] == str(-BIG), answer
    assert as_numbers.structured_content["many"] == [str(HUGE), "1"]
    for result in (restocked, restocked_text):
        assert not result.is_error and result.structured_content["quantity"] == str(HUGE), result


async def test_bytes_enums_and_floats_follow_the_mapping(canonical):
    async with connect(canonical) as client:
        await tools_once(client, {"c.Canonical.Echo"})
        named = await client.call_tool("c.Canonical.Echo", {"data": "AAEC/w==", "color": "GREEN", "ratio": "NaN",
                                                              "small": "-Infinity"})
        numbered = await client.call_tool("c.Canonical.Echo", {"color": 1, "ratio": "Infinity", "small": 0.5})
        bad_base64 = await client.call_tool("c.Canonical.Echo", {"data": "not base64!"})
        bad_enum = await client.call_tool("c.Canonical.Echo", {"color": "PURPLE"})
    assert not named.is_error, named
    assert named.structured_content["data"] == "AAEC/w==" and named.structured_content["color"] == "GREEN"
    assert named.structured_content["ratio"] == "NaN" and named.structured_content["small"] == "-Infinity"
    assert not numbered.is_error, numbered
    assert numbered.structured_content["color"] == "RED" and numbered.structured_content["ratio"] == "Infinity"
    assert numbered.structured_content["small"] == 0.5
    assert bad_base64.is_error and "data" in bad_base64.content[0].text, bad_base64
    assert bad_enum.is_error and "PURPLE" in bad_enum.content[0].text, bad_enum


async def test_well_known_types_follow_the_mapping(canonical):
    packed = {"@type": "type.googleapis.com/canonical.v1.Nested", "label": "inside"}
    result = await echo(canonical, {
        "at": "2024-02-29T12:00:00.5Z", "took": "-1.25s", "mask": "signed,nested.label",
        "bigWrapped": "5", "maybeName": "", "extra": {"a": [1, "b", None, {"c": True}]},
        "anything": [1, {"x": None}], "list": ["a", 2], "packed": packed})
    assert not result.is_error, result
    answer = result.structured_content
    assert answer["at"] == "2024-02-29T12:00:00.500Z" and answer["took"] == "-1.250s", answer
    assert answer["mask"] == "signed,nested.label" and answer["bigWrapped"] == "5", answer
    assert answer["maybeName"] == "", "an empty wrapper is set, not null"
    assert answer["extra"] == {"a": [1, "b", None, {"c": True}]} and answer["anything"] == [1, {"x": None}]
    assert answer["list"] == ["a", 2] and answer["packed"] == packed, answer


async def test_null_leaves_a_wrapper_unset(canonical):
    result = await echo(canonical, {"maybeName": None, "bigWrapped": None, "nested": None, "signed": None})
    assert not result.is_error, result
    answer = result.structured_content
    assert answer.get("maybeName") is None and answer.get("bigWrapped") is None and answer["signed"] == "0", answer


async def test_schemas_are_closed_and_an_unknown_field_is_named(canonical):
    async with connect(canonical) as client:
        tools = await tools_once(client, {"c.Canonical.Echo"})
        unknown = await client.call_tool("c.Canonical.Echo", {"nested": {"label": "x", "colour": "red"}})
        top = await client.call_tool("c.Canonical.Echo", {"signd": 1})
    schema = tools["c.Canonical.Echo"].input_schema
    assert schema["additionalProperties"] is False, schema
    assert schema["properties"]["nested"]["additionalProperties"] is False
    assert schema["properties"]["counts"]["additionalProperties"]["type"] == ["string", "integer"] or \
        set(schema["properties"]["counts"]["additionalProperties"]["type"]) == {"string", "integer"}
    assert schema["properties"]["extra"].get("additionalProperties", True) is not False, "a Struct stays open"
    assert unknown.is_error and "colour" in unknown.content[0].text, unknown
    assert top.is_error and "signd" in top.content[0].text, top
