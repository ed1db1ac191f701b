"""Population analytics: SQL-on-FHIR v2 ViewDefinitions flattened into an embedded DuckDB database (the
`population` extra), the same views on Apache Spark (the `spark` extra), and the MCP tools that use them."""
