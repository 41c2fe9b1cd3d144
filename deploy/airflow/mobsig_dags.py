"""Airflow DAGs for mobsig (Airflow 3.x): the daily chain and the monthly chain.

- ``mobsig_daily`` (one run per day, catch-up on, so a backfill is
  ``airflow dags backfill mobsig_daily --start-date A --end-date B`` or clearing a range):
  ingest_units -> ingest_cells -> ingest_events -> clean_stays.
  clean_stays of day D
  reads the open-stay carry of D-1, so runs are sequential (max_active_runs=1,
  depends_on_past on clean_stays).
- ``mobsig_monthly`` (runs on the 1st for the previous month): a gate task that waits until
  every day of the month has a succeeded clean_stays (``mobsig status --month M
  --require clean_stays``, retried), then flag_users -> home_work -> place_cards ->
  expand -> population_by_unit -> commute (with jobs_housing) -> service_population (the
  zone layers of the config's service_population.zones; none configured: nothing written) -> linkage ->
  trips -> daily_presence (a day job that needs the month's classes and factors: one
  submission for every day of the month, ``--from`` the first ``--to`` the last).

Each task runs ``deploy/yarn/submit.sh`` from the mobsig checkout or image on the Airflow
worker: Airflow schedules, Spark (YARN) computes. Settings, as Airflow Variables or
environment variables: ``MOBSIG_HOME`` (checkout, default /opt/mobsig), ``MOBSIG_CONFIG``
(YAML config on the cluster), ``MOBSIG_SUBMIT_OPTS`` (extra submit options, e.g.
``--env-archive hdfs:///apps/mobsig/env.tar.gz``).
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

# the chains of the pipeline spec (mobsig.pipeline.chain("daily"/"monthly")); the DAG runs
# where mobsig may not be importable, so they are spelled out here and
# tests/test_pipeline.py fails when they drift from the spec
DAILY_CHAIN = ["ingest_units", "ingest_cells", "ingest_events", "clean_stays"]
MONTHLY_CHAIN = ["flag_users", "home_work", "place_cards", "expand", "population_by_unit",
                 "commute", "service_population", "linkage", "trips",
                 "land_use_intensity", "screen_farmland", "screen_idle_land", "daily_presence",
                 "exposure_hazards", "screen_reserves"]
# day jobs of the monthly chain (the spec's after_month jobs): run for every day of the month
AFTER_MONTH = ["daily_presence", "exposure_hazards", "screen_reserves"]

HOME = os.environ.get("MOBSIG_HOME", "/opt/mobsig")
CONFIG = os.environ.get("MOBSIG_CONFIG", "/etc/mobsig/config.yaml")
SUBMIT_OPTS = os.environ.get("MOBSIG_SUBMIT_OPTS", "")

DEFAULT_ARGS = {
    "owner": "mobsig-ops",
    "retries": 3,
    "retry_delay": dt.timedelta(minutes=10),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(hours=1),
    "execution_timeout": dt.timedelta(hours=6),
}


def submit(job: str, partition: str) -> str:
    return (f"{HOME}/deploy/yarn/submit.sh {SUBMIT_OPTS} --config {CONFIG} "
            f"{job} {partition}").replace("  ", " ")


with DAG(
    dag_id="mobsig_daily",
    description="signaling -> events_bronze -> events_clean + stays/moves, one day",
    schedule="0 3 * * *",  # the day's files are complete by 03:00 the next morning
    start_date=dt.datetime(2026, 1, 1),
    catchup=True,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["mobsig", "daily"],
) as daily:
    day = "{{ data_interval_start | ds }}"
    prev = None
    for job in DAILY_CHAIN:
        cmd = submit(job, "" if job in ("ingest_units", "ingest_cells") else f"--date {day}")
        task = BashOperator(task_id=job, bash_command=cmd,
                            depends_on_past=(job == "clean_stays"))
        if prev is not None:
            prev >> task
        prev = task


with DAG(
    dag_id="mobsig_monthly",
    description="flags, home/work, expansion, population by unit, jobs-housing balance, commuting, "
                "service population of zones and daily presence for the past month",
    schedule="0 6 1 * *",  # data interval = the previous month
    start_date=dt.datetime(2026, 1, 1),
    catchup=True,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["mobsig", "monthly"],
) as monthly:
    month = "{{ data_interval_start.strftime('%Y-%m') }}"
    month_days = ("--from {{ data_interval_start | ds }} "
                  "--to {{ (data_interval_end - macros.timedelta(days=1)) | ds }}")
    wait = BashOperator(
        task_id="days_complete",
        bash_command=(f"{HOME}/.venv/bin/mobsig status --config {CONFIG} --month {month} "
                      "--require clean_stays"),
        retries=24, retry_delay=dt.timedelta(hours=1), retry_exponential_backoff=False)
    prev = wait
    for job in MONTHLY_CHAIN:
        part = month_days if job in AFTER_MONTH else f"--month {month}"
        task = BashOperator(task_id=job, bash_command=submit(job, part))
        prev >> task
        prev = task
