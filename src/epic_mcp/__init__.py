"""epic-mcp: a read-only MCP server for Epic's FHIR R4 APIs (SMART Backend Services auth)."""

__version__ = "0.1.0"
