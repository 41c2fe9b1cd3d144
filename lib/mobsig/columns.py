"""Column names used across tables: one constant per name, snake_case, units as suffixes."""

from __future__ import annotations

# partitioning
DT = "dt"
REGION = "region"
MONTH = "month"
LEVEL = "level"

# raw and event columns (data contract)
USER_ID = "user_id"
EVENT_TIME = "event_time"
CELL_ID = "cell_id"
EVENT_TYPE = "event_type"
IMEI_TAC = "imei_tac"
HOME_REGION = "home_region"

# cell table
LON = "lon"
LAT = "lat"
COORD_SYS = "coord_sys"
AZIMUTH = "azimuth"
RADIUS_M = "radius_m"
TECH = "tech"
VALID_FROM = "valid_from"
VALID_TO = "valid_to"
ADMIN_CODE = "admin_code"

# quarantine
REASON = "reason"
RAW_TEXT = "raw_text"
SOURCE_FILE = "source_file"

# stays and moves
STAY_START = "stay_start"
STAY_END = "stay_end"
DURATION_S = "duration_s"
H3 = "h3"
N_EVENTS = "n_events"
DIST_M = "dist_m"

# units and population
UNIT_ID = "unit_id"
UNIT_NAME = "unit_name"
POP_CLASS = "pop_class"
RAW_COUNT = "raw_count"
EXPANDED_COUNT = "expanded_count"
GEOMETRY = "geometry"
GEOMETRY_WKB = "geometry_wkb"  # units table: EPSG:4490 polygon as WKB
PARENT_ID = "parent_id"
ATTRIBUTES = "attributes"
IS_SUPPRESSED = "is_suppressed"
GRID_LEVEL = "grid"  # level of the H3 grid rows of population_by_unit

# jobs_housing (职住平衡): one row per unit; each measure has <measure>_raw_count,
# <measure>_expanded_count and is_<measure>_suppressed (mobsig.jobs_housing)
MEASURE = "measure"  # the long form's breakdown column before it is spread into columns
EMPLOYED_RESIDENTS = "employed_residents"
JOBS = "jobs"
LIVE_AND_WORK = "live_and_work"
JOBS_HOUSING_RATIO = "jobs_housing_ratio"
SELF_CONTAINMENT = "self_containment"
SELF_SUFFICIENCY = "self_sufficiency"
IS_BALANCED = "is_balanced"

# daily_presence (日实际服务人口): one row per unit, class and hour (null = the whole day)
HOUR = "hour"
# service_population (服务人口): the cards that spend time in a zone (a polygon of a chosen
# unit layer: hubs, parks, CBDs, heritage areas), by their role there; each role has
# <role>_raw_count, <role>_expanded_count and is_<role>_suppressed (mobsig.service_population)
VISIT_ROLE = "visit_role"  # the long form's breakdown column before it is spread
ZONE_LEVEL = "zone_level"  # service_catchment: the zone's layer (level carries the home's)
ZONE_ID = "zone_id"
ZONE_NAME = "zone_name"
DAYS_OBSERVED = "days_observed"  # days of the month with any stay
CATCHMENT_RADIUS_M = "catchment_radius_m"
CATCHMENT_QUANTILE = "catchment_quantile"
SHARE = "share"
UNKNOWN_HOME = "unknown"  # service_catchment unit of visitors without a home in the layer

# home_work, card_places (monthly, per card)
HOME_LON = "home_lon"
HOME_LAT = "home_lat"
HOME_H3 = "home_h3"
NIGHT_LON = "night_lon"
NIGHT_LAT = "night_lat"
WORK_LON = "work_lon"
WORK_LAT = "work_lat"
WORK_H3 = "work_h3"
IS_COUNTED = "is_counted"
HOME_REASON = "home_reason"
WORK_REASON = "work_reason"
HOME_RULE = "home_rule"  # which rule gave the home: night or day_rest
HOME_POSITION = "home_position"  # stays or residential_land (mobsig.settlement)
DAYS_PRESENT = "days_present"
HOME_COUNTY = "home_county"    # county-level unit of the home point
NIGHT_COUNTY = "night_county"  # county-level unit of the longest night place
WEIGHT_COUNTY = "weight_county"  # the county whose factor weights the card
NIGHTS_OBSERVED = "nights_observed"  # nights with any night-time stay
NIGHTS_AT_HOME = "nights_at_home"
DAYS_AT_WORK = "days_at_work"
STAY_H = "stay_h"  # hours of stays in the month
OBSERVED_H = "observed_h"  # hours a card was seen in the area in the month (user_flags)
AGE_BAND = "age_band"
ROLE = "role"  # a card's point: home, night or work
KEY_DATE = "key_date"  # the day, the evening of the night, or the workday
FACTOR = "factor"
WEIGHT = "weight"  # a card's expansion factor in population_by_unit
SAMPLE_RESIDENTS = "sample_residents"
REFERENCE_POPULATION = "reference_population"
COUNTY_LEVEL = "county"

# stay pieces (residence: a stay's overlap with a day, night or workday window)
OVERLAP_S = "overlap_s"
PLACE_CELL = "place_cell"  # bigint H3 id of the stay's place-clustering cell
SITE_X = "site_x"  # metric position of the antenna of the stay's cell (home refinement)
SITE_Y = "site_y"

# home_work.pop_class: the class of a card for the month
CARD_CLASSES = ("resident", "short_term", "visitor", "transit", "unidentified", "non_human")

# metric coordinates (cells, stays) and event flags (events_clean)
X_M = "x_m"
Y_M = "y_m"
IS_HEAVY_USER = "is_heavy_user"

# user_flags
IS_NON_HUMAN = "is_non_human"
NON_HUMAN_REASON = "non_human_reason"
MULTICARD_GROUP = "multicard_group"
MULTICARD_GROUP_SIZE = "multicard_group_size"
IS_GROUP_PRIMARY = "is_group_primary"
EVIDENCE = "evidence"

# cell table (cells) and ingest (events_quarantine)
SRC_LON = "src_lon"
SRC_LAT = "src_lat"
SPACING_M = "spacing_m"  # local site spacing of a cell (cells)
STAY_RADIUS_M = "stay_radius_m"  # density-adaptive stay radius (stays kernel, stays_carry)
SVC_LON = "svc_lon"  # service point of a cell (centroid of its service area)
SVC_LAT = "svc_lat"
COVERAGE_WKB = "coverage_wkb"
EVENT_TIME_RAW = "event_time_raw"
REGION_UNKNOWN = "unknown"  # region of cells outside every county-level unit

# raw rows between the reader (mobsig.io.raw_events.read_sources) and ingest.classify_events
IS_WELLFORMED = "is_wellformed"  # false when a line has the wrong number of fields
IS_HEADER_COPY = "is_header_copy"  # a copy of the file's header line after its first line
EVENT_TIME_IN = "event_time_in"  # typed timestamp from Parquet, else null
# session records: an optional end_time makes a raw row a session at one cell
END_TIME = "end_time"
END_TIME_RAW = "end_time_raw"  # as delivered (string), null when the feed has no end_time
END_TIME_IN = "end_time_in"  # typed timestamp from Parquet, else null

# event cleaning (clean_stays): why a bronze row is not in events_clean (null = kept)
DROP_REASON = "drop_reason"

# moves and the stays carry (clean_stays)
ORIGIN_LON = "origin_lon"
ORIGIN_LAT = "origin_lat"
ORIGIN_H3 = "origin_h3"
DEST_LON = "dest_lon"
DEST_LAT = "dest_lat"
DEST_H3 = "dest_h3"
DEPARTURE = "departure"
ARRIVAL = "arrival"
CARRY_KIND = "kind"

# high-speed rail 高铁专网: the cell serves a high-speed-rail line (cells table; drift rule)
IS_HSR = "is_hsr"

# origin-destination tables: linkage, metro_area, trips_by_period (issue 14 items 5-6)
ORIGIN_ID = "origin_id"
ORIGIN_NAME = "origin_name"
DEST_ID = "dest_id"
DEST_NAME = "dest_name"
CITY_ID = "city_id"
DAYS = "days"  # days of the month with moves: the divisor of per-day values
TRIPS = "trips"  # moves between two units (measure)
TRAVELLERS = "travellers"  # distinct cards making them
COMMUTERS = "commuters"  # employed residents living in the origin, working in the dest
TRIPS_PER_DAY = "trips_per_day"
INTENSITY_PER_DAY = "intensity_per_day"  # F_ij = (T_ij + T_ji) / days
COMMUTING_RATE = "commuting_rate"
PERIOD = "period"
PERIOD_HOURS = "period_hours"
IS_CORE = "is_core"
IS_MEMBER = "is_member"
JOINED_ROUND = "joined_round"
COMMUTERS_TO_METRO = "commuters_to_metro"
METRO_SHARE = "commuting_share_to_metro"


# the columns of one measure of a multi-measure table (jobs_housing, commute, linkage)


def raw_col(measure: str) -> str:
    """``<measure>_raw_count``: distinct cards (null when suppressed)."""
    return f"{measure}_{RAW_COUNT}"


def expanded_col(measure: str) -> str:
    """``<measure>_expanded_count``: summed expansion factors (null when suppressed)."""
    return f"{measure}_{EXPANDED_COUNT}"


def suppressed_col(measure: str) -> str:
    """``is_<measure>_suppressed``."""
    return f"is_{measure}_suppressed"


def reason_col(stat: str) -> str:
    """``<stat>_null_reason``: why a statistic is null (null when it has a value)."""
    return f"{stat}_null_reason"
