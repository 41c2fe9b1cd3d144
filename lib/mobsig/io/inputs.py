"""Readers of the small delivered reference inputs.

Each returns a typed frame (or None when the input is not configured) and raises
InputError naming the file for content it cannot use.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mobsig.config import Config
from mobsig.errors import InputError

log = logging.getLogger(__name__)

TAC_SCHEMA = T.StructType([T.StructField("tac", T.StringType()),
                           T.StructField("device_type", T.StringType())])


def read_tac_types(spark: SparkSession, cfg: Config) -> DataFrame | None:
    """The TAC -> device type table (paths.tac_types: CSV with header ``tac,device_type``),
    or None when not configured. A TAC listed twice with different device types is an
    InputError."""
    if not cfg.paths.tac_types:
        log.warning("paths.tac_types not set: the iot_tac rule is off")
        return None
    path = str(cfg.path("tac_types"))
    df = (spark.read.option("header", True).option("enforceSchema", False)
          .schema(TAC_SCHEMA).csv(path))
    df = df.select(F.trim("tac").alias("tac"), F.lower(F.trim("device_type"))
                   .alias("device_type")).where(F.col("tac").isNotNull()).distinct()
    clash = df.groupBy("tac").count().where("count > 1").limit(5).collect()
    if clash:
        raise InputError(f"paths.tac_types {path}: TACs with several device types: "
                         f"{[r['tac'] for r in clash]}")
    return df
