"""Population analytics and Bulk Data: views, DuckDB, Spark, the population tools, export faults."""
