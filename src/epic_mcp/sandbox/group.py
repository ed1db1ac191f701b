"""The sandbox's Group of Epic's test patients: what a health system registers for a Bulk Data client."""

from __future__ import annotations

from typing import Any

SANDBOX_GROUP_ID = "epic-mcp-test-patients"


def sandbox_group(patients: list[dict[str, Any]]) -> dict[str, Any]:
    """A Group whose members are the data set's patients (built from their ids, so it follows the data)."""
    return {
        "resourceType": "Group", "id": SANDBOX_GROUP_ID, "type": "person", "actual": True,
        "name": "Epic sandbox test patients (synthetic data)", "quantity": len(patients),
        "member": [{"entity": {"reference": f"Patient/{p['id']}", "display": p["name"]}} for p in patients],
    }
