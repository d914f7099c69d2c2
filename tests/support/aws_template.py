"""Creates AWS resources under moto from template.yaml's own definitions, so tests catch template drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

from local.language_extensions import expand_for_each

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

# Properties that are not CreateTable parameters; they are applied with their own API calls.
_TABLE_EXTRAS = {"TimeToLiveSpecification", "PointInTimeRecoverySpecification", "SSESpecification"}


def template_resources(kind: str, template: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    """Logical id → Properties of every resource of one type."""
    doc = cfn_yaml.load(str(template))
    resources = expand_for_each(doc["Resources"], doc.get("Parameters"))
    return {
        name: dict(res.get("Properties", {})) for name, res in resources.items() if res.get("Type") == kind
    }


def create_tables(client: Any, template: Path = TEMPLATE) -> dict[str, str]:
    """Create every AWS::DynamoDB::Table of the template; returns logical id → table name."""
    names = {}
    for logical_id, props in template_resources("AWS::DynamoDB::Table", template).items():
        params = {k: _plain(v) for k, v in props.items() if k not in _TABLE_EXTRAS}
        params.setdefault("TableName", logical_id)
        client.create_table(**params)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(TableName=params["TableName"], TimeToLiveSpecification=_plain(ttl))
        names[logical_id] = params["TableName"]
    return names


def _plain(value: Any) -> Any:
    """cfn-lint's YAML nodes → plain dicts, lists and str."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | float):
        return value
    return str(value)
