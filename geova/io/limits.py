"""The bounds an imported value must stay within, so that a bad file gets a reject or a one-line
error naming it instead of a traceback from pandas, GEOS or the database.

The text widths mirror the columns of ``geova/store/schema.py`` (``store`` imports ``io``, so ``io``
cannot read them from there); tests/test_import_limits.py checks that the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

# Dates: requests of a monitoring service are from the computer age and not centuries ahead. The
# bound also keeps every instant inside what pandas' nanosecond timestamps hold (1677-2262), which
# is what failed with a bare AssertionError before. Years 1970 to 2100 inclusive, in UTC.
EARLIEST_DATE = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_DATE = datetime(2101, 1, 1, tzinfo=UTC)  # exclusive: 31 December 2100 is the last day
DATE_RANGE_TEXT = "1970-01-01..2100-12-31"

# Vertices per quarter or zone feature (every ring of every part counted). SpatiaLite's EWKT parser
# gives up ("parser stack overflow", then a NULL geometry) between 200,000 and 500,000 vertices;
# a real quarter needs a few thousand at most, so 100,000 leaves room for detailed survey layers and
# a margin below the failure. Simplify a heavier layer first (``ogr2ogr -simplify``).
MAX_VERTICES_PER_FEATURE = 100_000

# Widths of the text columns that have one (characters).
SOURCE_MAX = 128  # intervention.source, activity.source: the mapping's [source] name
SOURCE_ID_MAX = 128  # intervention.source_id, activity.source_id
SEVERITY_MAX = 32  # intervention.severity
AREA_CODE_MAX = 64  # quarter.code, zone.code
ZONE_KIND_MAX = 64  # zone.kind
LAYER_NAME_MAX = 128  # quarter.layer, zone.layer
