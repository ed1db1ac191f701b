"""FHIR Bulk Data export: the HTTP client, the resumable export state, the merged NDJSON and `epic-mcp export`."""
