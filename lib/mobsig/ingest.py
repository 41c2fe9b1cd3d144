"""Raw signaling rows -> accepted rows (events_bronze) and rejected rows with a reason.

The chain (driven by ``jobs/ingest_events.py``)::

    mobsig.io.raw_events.plan_sources / read_sources
                      the reader: one uniform frame of the day's raw rows (the contract
                      columns as delivered, as strings), ``raw_text``, ``source_file``,
                      ``is_wellformed``, ``event_time_in``
    classify_events   parse event_time, give each row ``reason`` (null = accepted) and
                      the serving cell's ``region``
    accepted_events / rejected_events   the events_bronze / events_quarantine shapes

Reasons, first match wins: ``repeated_header`` (a copy of the file's header line after
its first line), ``malformed_row`` (wrong field count), ``invalid_encoding`` (bytes that
are not UTF-8, or U+FFFD, the mark of an earlier lossy decoding: never a phantom user
id), ``oversized_row`` (ingest.max_line_len),
``empty_user_id``, ``raw_identifier`` (a user id that looks like a raw IMSI, 15 digits
starting 46, or a Chinese mobile number, 11 digits starting 1[3-9], with or without an
``imsi:`` / ``+86`` prefix: the product never holds un-pseudonymised ids, and the
quarantine row keeps the id masked), ``oversized_user_id`` / ``undersized_user_id``
(ingest.user_id_max_len / min_len), ``bad_user_id_chars`` (ingest.user_id_pattern),
``empty_cell_id``, ``oversized_field`` (cell_id, event_type, imei_tac or home_region
longer than ingest.max_field_len), ``date_only_time`` (a date without a time of day, e.g.
a Parquet DATE column: never read as midnight), ``unparseable_time`` (not
``yyyy-MM-dd HH:mm:ss[.SSS]``, not epoch ms), ``time_outside_day`` (parsed, but not on the
folder's day in the session time zone = run.timezone), ``bad_end_time``, ``unknown_cell``
(no cell version valid on the day).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.config import IngestConfig

REASONS = ("repeated_header", "malformed_row", "invalid_encoding", "oversized_row",
           "empty_user_id", "raw_identifier", "oversized_user_id", "undersized_user_id",
           "bad_user_id_chars", "empty_cell_id", "oversized_field", "date_only_time",
           "unparseable_time", "time_outside_day", "bad_end_time", "unknown_cell",
           "corrupt_file")
TIME_PATTERN = "yyyy-MM-dd HH:mm:ss[.SSS]"
MINUTE_PATTERN = "yyyy-MM-dd HH:mm"
_EPOCH_MS = r"^[0-9]{1,14}$"
# TIME_PATTERN's own shape, digit for digit: such a text is read with Spark's string to
# timestamp cast (its hand-written parser), which gives the formatter's instant for every
# text of this shape (both null for a day or time that does not exist) at a fraction of
# its cost (10^7 rows: 2.8 s less wall on 2 cores, README Benchmark); any other text
# still goes through the formatter
_PLAIN_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3})?$"
# a raw IMSI (MCC 46x, 15 digits) or a Chinese mobile number (MSISDN), optional prefixes
RAW_IDENTIFIER = (r"(?i)^(imsi[:=_-]?)?46[0-9]{13}$"
                  r"|^(msisdn[:=_-]?|tel:)?(\+?86[ -]?|0086)?1[3-9][0-9]{9}$")
_DATE_ONLY = r"^\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}\s*$"
_MASK = "[raw identifier removed]"


def parse_event_time(raw: F.Column, typed: F.Column) -> F.Column:
    """The event time: the typed value if any, else epoch ms (1-14 digits), else
    ``yyyy-MM-dd HH:mm:ss[.SSS]`` or ``yyyy-MM-dd HH:mm`` (minute feeds) in the session
    time zone; null when unparseable."""
    text = F.trim(raw)
    epoch = F.when(text.rlike(_EPOCH_MS), F.timestamp_millis(text.try_cast("long")))
    plain = F.when(text.rlike(_PLAIN_TIME), text.try_cast("timestamp"))
    return F.coalesce(typed, epoch, plain, F.try_to_timestamp(text, F.lit(TIME_PATTERN)),
                      F.try_to_timestamp(text, F.lit(MINUTE_PATTERN)))


def classify_events(raw: DataFrame, cells_on_day: DataFrame, day: dt.date,
                    ingest: IngestConfig) -> DataFrame:
    """Give each raw row its parsed ``event_time``, serving-cell ``region`` and ``reason``.

    Needs the columns of :func:`mobsig.io.raw_events.read_sources`; ``cells_on_day`` from
    :func:`mobsig.cells.cells_on_day` (broadcast). Adds ``event_time`` (timestamp),
    ``region`` (null for unknown cells) and ``reason`` (null = accepted, else one of
    :data:`REASONS`, first match wins). Keeps every row exactly once (the cell lookup is a
    left join on a unique key).
    """
    lookup = cells_on_day.select(F.col(C.CELL_ID).alias("_cell"), F.col(C.REGION))
    ts = parse_event_time(F.col(C.EVENT_TIME_RAW), F.col(C.EVENT_TIME_IN))
    end = parse_event_time(F.col(C.END_TIME_RAW), F.col(C.END_TIME_IN))
    uid = F.col(C.USER_ID)
    cid = F.col(C.CELL_ID)
    joined = (raw.withColumns({C.EVENT_TIME: ts, C.END_TIME: end})
              .join(F.broadcast(lookup), F.col(C.CELL_ID) == F.col("_cell"), "left"))
    long_field = F.greatest(*[F.coalesce(F.length(c), F.lit(0)) for c in (
        C.CELL_ID, C.EVENT_TYPE, C.IMEI_TAC, C.HOME_REGION)]) > ingest.max_field_len
    header_copy = (F.col(C.IS_HEADER_COPY) if C.IS_HEADER_COPY in raw.columns
                   else F.lit(False))
    reason = (F.when(header_copy, F.lit("repeated_header"))
              .when(~F.col(C.IS_WELLFORMED), F.lit("malformed_row"))
              .when(~F.is_valid_utf8(C.RAW_TEXT) | F.col(C.RAW_TEXT).contains("\ufffd"),
                    F.lit("invalid_encoding"))
              .when(F.length(C.RAW_TEXT) > ingest.max_line_len, F.lit("oversized_row"))
              .when(uid.isNull() | (uid == ""), F.lit("empty_user_id"))
              .when(uid.rlike(RAW_IDENTIFIER), F.lit("raw_identifier"))
              .when(F.length(uid) > ingest.user_id_max_len, F.lit("oversized_user_id"))
              .when(F.length(uid) < ingest.user_id_min_len, F.lit("undersized_user_id"))
              .when(~uid.rlike(f"^(?:{ingest.user_id_pattern})$"),
                    F.lit("bad_user_id_chars"))
              .when(cid.isNull() | (cid == ""), F.lit("empty_cell_id"))
              .when(long_field, F.lit("oversized_field"))
              .when(F.col(C.EVENT_TIME).isNull()
                    & F.col(C.EVENT_TIME_RAW).rlike(_DATE_ONLY), F.lit("date_only_time"))
              .when(F.col(C.EVENT_TIME).isNull(), F.lit("unparseable_time"))
              .when(F.to_date(F.col(C.EVENT_TIME)) != F.lit(day), F.lit("time_outside_day"))
              .when(F.col(C.END_TIME_RAW).isNotNull()
                    & (F.col(C.END_TIME).isNull() | (F.col(C.END_TIME) < F.col(C.EVENT_TIME))),
                    F.lit("bad_end_time"))
              .when(F.col("_cell").isNull(), F.lit("unknown_cell")))
    return joined.withColumn(C.REASON, reason).drop("_cell")


# the classified columns ingest_events keeps (caches): what accepted_events,
# rejected_events and the per-source counts (mobsig.feed.source_summary) read
KEPT_COLUMNS = (C.REASON, C.USER_ID, C.EVENT_TIME, C.END_TIME, C.CELL_ID, C.EVENT_TYPE,
                C.IMEI_TAC, C.HOME_REGION, C.REGION, C.SOURCE_FILE, C.EVENT_TIME_RAW,
                C.RAW_TEXT)


def without_accepted_text(classified: DataFrame) -> DataFrame:
    """``classified`` as ingest_events caches it: only :data:`KEPT_COLUMNS`, and the raw
    text of accepted rows (``raw_text``, ``event_time_raw``) null: only the quarantine
    keeps it. Holding ~100 bytes of line per accepted row cost about a tenth of the day's
    ingest time at 10^7 rows, and the five columns only the reasons read (the typed and
    raw end time, the typed time as delivered, the field-count and header-copy marks)
    about as much again (README, Benchmark)."""
    rejected = F.col(C.REASON).isNotNull()
    text = (C.RAW_TEXT, C.EVENT_TIME_RAW)
    return classified.select(*[F.when(rejected, F.col(c)).alias(c) if c in text else c
                               for c in KEPT_COLUMNS])


def session_end(day: dt.date) -> Column:
    """True on an accepted session row whose end becomes an event of its own: an end
    after the start, on the same day (an end past midnight is left to the next day's
    records: the day's partition holds the day's events only)."""
    return (F.col(C.END_TIME) > F.col(C.EVENT_TIME)) & (F.to_date(F.col(C.END_TIME))
                                                        == F.lit(day))


def accepted_events(classified: DataFrame, day: dt.date) -> DataFrame:
    """Accepted rows in the events_bronze shape (``dt`` = day). A session record (a row
    with ``end_time``) gives two events at its cell, its start and, when
    :func:`session_end`, its end, both with the row's event type."""
    ok = classified.where(F.col(C.REASON).isNull())
    times = F.when(session_end(day), F.array(C.EVENT_TIME, C.END_TIME)).otherwise(
        F.array(C.EVENT_TIME))
    return ok.select(
        C.USER_ID, F.explode(times).alias(C.EVENT_TIME), C.CELL_ID, C.EVENT_TYPE,
        C.IMEI_TAC, C.HOME_REGION, C.SOURCE_FILE, F.lit(day).alias(C.DT), C.REGION)


def rejected_events(classified: DataFrame, day: dt.date,
                    ingest: IngestConfig | None = None) -> DataFrame:
    """Rejected rows in the events_quarantine shape (``dt`` = the day folder).

    A ``raw_identifier`` row keeps its id masked (in ``user_id`` and ``raw_text``); text
    fields are cut to ``ingest.max_line_len`` characters (a 20 MB field stays out)."""
    cap = (ingest or IngestConfig()).max_line_len
    raw_id = F.col(C.REASON) == "raw_identifier"

    def cut(c: Column) -> Column:  # bytes that are not UTF-8 become U+FFFD here only
        return F.substring(F.make_valid_utf8(c), 1, cap)

    return classified.where(F.col(C.REASON).isNotNull()).select(
        C.REASON,
        F.when(raw_id, F.lit(_MASK)).otherwise(cut(F.col(C.USER_ID))).alias(C.USER_ID),
        cut(F.col(C.EVENT_TIME_RAW)).alias(C.EVENT_TIME_RAW),
        cut(F.col(C.CELL_ID)).alias(C.CELL_ID),
        F.when(raw_id, cut(F.replace(C.RAW_TEXT, C.USER_ID, F.lit(_MASK))))
        .otherwise(cut(F.col(C.RAW_TEXT))).alias(C.RAW_TEXT),
        C.SOURCE_FILE, F.lit(day).alias(C.DT))


def time_resolution_s(t: Column) -> Column:
    """Aggregate: the time resolution of the event times ``t`` (epoch seconds, double) of a
    group: 60 when every time is a whole minute, 1 when every time is a whole second,
    else 0.001 (milliseconds). Operator feeds differ: session records often carry
    minutes only."""
    frac = F.max(F.when(t != F.floor(t), 1).otherwise(0))
    sec = F.max(F.when(F.pmod(F.floor(t), F.lit(60)) != 0, 1).otherwise(0))
    return (F.when(frac == 1, F.lit(0.001)).when(sec == 1, F.lit(1.0))
            .otherwise(F.lit(60.0)))
