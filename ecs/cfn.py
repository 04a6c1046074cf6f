"""CloudFormation building blocks: intrinsic functions and logical ids."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


def ref(name: str) -> Json:
    return {"Ref": name}


def get_att(logical_id: str, attribute: str) -> Json:
    return {"Fn::GetAtt": [logical_id, attribute]}


def sub(text: str) -> Json:
    return {"Fn::Sub": text}


def pascal(name: str) -> str:
    """A registry name as the start of a logical id: `ip_reputation` -> `IpReputation`."""
    return "".join(part.capitalize() for part in name.split("_"))


def policy_document(statements: list[Json]) -> Json:
    return {"Version": "2012-10-17", "Statement": statements}
