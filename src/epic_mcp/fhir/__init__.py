"""Speaking FHIR R4 to Epic: the declarative operation catalog, the HTTP client (retries, limits, the rule that
the bearer token goes only to the configured server), paging cursors, OperationOutcome messages, search results,
argument validation and the guard that keeps a patient's search to that patient's records.

May import: auth and the foundation modules. Knows nothing of MCP, rendering or clinical answers.
"""
