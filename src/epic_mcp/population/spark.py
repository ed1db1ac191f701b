"""The same ViewDefinitions on Apache Spark, for exports too large for one machine (the `spark` extra).

Spark splits each resource type's NDJSON into partitions and every executor flattens its lines with the same
runner the DuckDB loader uses (viewdef.flatten_lines), so the tables are the same whichever engine built them.
Executors need epic-mcp[population] installed. Run it on a cluster with spark-submit, or locally:

    python -m epic_mcp.population.spark RESOURCES_DIR OUTPUT_DIR [--master local[4]] [--as-of YYYY-MM-DD]

which writes one Parquet folder per view (e.g. OUTPUT_DIR/observation/). Ages are counted on --as-of (the
export's day, as the DuckDB loader counts them; default today in UTC); code lists are array<string> columns.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from .viewdef import Column, Kind, View, flatten_lines, shipped_views

APP = "epic-mcp population"
SPARK_TYPES: dict[Kind, DataType] = {"text": StringType(), "decimal": DoubleType(), "integer": LongType(),
                                     "boolean": BooleanType()}


def spark_type(column: Column) -> DataType:
    return ArrayType(SPARK_TYPES[column.kind], containsNull=False) if column.collection else SPARK_TYPES[column.kind]


def schema(view: View) -> StructType:
    return StructType([StructField(c.name, spark_type(c), nullable=True) for c in view.columns])


def local_session(master: str = "local[2]") -> SparkSession:
    """A Spark session on this machine only: loopback addresses (SPARK_LOCAL_IP too, else Spark picks the
    network interface's), no web UI, and Python workers run by this interpreter (so they import the same
    epic-mcp), unless the environment says otherwise."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return (SparkSession.builder.master(master).appName(APP)
            .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", "4")
            .getOrCreate())


def view_frames(spark: SparkSession, resources: str, views: Iterable[View] | None = None,
                partitions: int | None = None, as_of: date | None = None) -> dict[str, DataFrame]:
    """One DataFrame per view over `resources` (a folder or URI holding {ResourceType}.ndjson files); ages on
    `as_of` (the export's day)."""
    frames = {}
    for view in views if views is not None else shipped_views(as_of):
        source = f"{resources.rstrip('/')}/{view.resource}.ndjson"
        if "://" not in source and not Path(source).exists():
            frames[view.name] = spark.createDataFrame([], schema(view))
            continue
        lines = spark.sparkContext.textFile(source, partitions or spark.sparkContext.defaultParallelism)
        rows = lines.mapPartitions(functools.partial(flatten_lines, view.definition))
        frames[view.name] = spark.createDataFrame(rows, schema(view))
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m epic_mcp.population.spark",
                                     description="Flatten an export's NDJSON with the shipped ViewDefinitions on "
                                                 "Spark and write one Parquet folder per view.")
    parser.add_argument("resources", help="folder or URI with one {ResourceType}.ndjson per type (e.g. the "
                        "population folder's resources/)")
    parser.add_argument("output", help="folder or URI to write the Parquet tables to")
    parser.add_argument("--master", default=None, help="Spark master, e.g. local[4] for this machine only "
                        "(loopback, no web UI); default: spark-submit's, else local[*]")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                        help="the day ages are counted on: the export's day (default: today, UTC)")
    args = parser.parse_args(argv)
    spark = local_session(args.master) if args.master else SparkSession.builder.appName(APP).getOrCreate()
    try:
        for name, frame in view_frames(spark, args.resources, as_of=args.as_of).items():
            frame.write.mode("overwrite").parquet(f"{args.output.rstrip('/')}/{name}")
            print(f"{name}: {frame.count()} rows", file=sys.stderr)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
