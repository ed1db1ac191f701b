"""Population analytics: SQL-on-FHIR v2 ViewDefinitions flattened into an embedded DuckDB database (the
`population` extra) and the same views on Apache Spark (the `spark` extra). The MCP tools that use them live in
serve/population_tools.py.

May import: fhir, auth and the foundation modules; never MCP.
"""
