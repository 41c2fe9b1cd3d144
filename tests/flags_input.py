"""Test input for flag_users: an ``events_clean`` table built from the synthetic truth.

Stands in for ingest + clean_events: the labelled truth events (kept labels normal,
pingpong, drift: malformed rows and duplicates are what ingest and clean remove) joined to
the true cell positions, projected to ``run.metric_crs``; ``is_heavy_user`` set from the
day's event count like clean_events does.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pyproj import Transformer
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from mobsig.catalog import Catalog
from mobsig.config import Config

KEEP_LABELS = ("normal", "pingpong", "drift")


def events_clean_from_truth(spark: SparkSession, city_dir: Path, cfg: Config) -> int:
    """Write ``events_clean`` under ``cfg.warehouse`` from ``city_dir/truth``; rows written."""
    cells = pd.read_csv(city_dir / "truth/cells.csv", dtype={"admin_code": str})
    cells = cells.drop_duplicates("cell_id")
    tr = Transformer.from_crs("EPSG:4326", cfg.run.metric_crs, always_xy=True)
    x, y = tr.transform(cells["true_lon"].to_numpy(), cells["true_lat"].to_numpy())
    cdf = spark.createDataFrame(pd.DataFrame({
        "cell_id": cells["cell_id"], "lon": cells["true_lon"], "lat": cells["true_lat"],
        "x_m": x, "y_m": y, "region": cells["admin_code"]}))
    ev = (spark.read.parquet(str(city_dir / "truth/events"))
          .where(F.col("label").isin(*KEEP_LABELS))
          .select("user_id", F.to_timestamp("event_time").alias("event_time"), "cell_id",
                  "event_type", "imei_tac", "home_region", F.to_date("dt").alias("dt"))
          .join(F.broadcast(cdf), "cell_id", "inner"))
    per_day = F.count(F.lit(1)).over(Window.partitionBy("user_id", "dt"))
    ev = ev.withColumns({
        "stay_radius_m": F.lit(500.0),
        "is_heavy_user": per_day > F.lit(cfg.clean.heavy_user_events_per_day),
    })
    Catalog(spark, cfg.warehouse).write(ev, "events_clean", {})
    return spark.read.format("delta").load(str(cfg.warehouse / "events_clean")).count()
