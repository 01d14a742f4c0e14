"""What every page needs: the view asked for in the URL, and evaluations of it.

A view is fully described by its query string (norm, period, filters), so any page can be
bookmarked or sent by mail and shows the same thing to the next person.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import pandas as pd
from flask import g, request
from flask_babel import lazy_gettext as _l

from geova.core import validity
from geova.core.evaluate import State
from geova.core.norms import Norm
from geova.evaluation import Evaluation, evaluate
from geova.store import catalogue
from geova.store.records import RecordFilter
from geova.store.referential import deadline_norms as store_deadline_norms
from geova.store.referential import headline_norm
from geova.store.status import AS_OF, settings
from geova.web import engine
from geova.web.access import RequestAccess
from geova.web.errors import ParamError
from geova.web.format import territory_tz
from geova.web.params import MAX_PERIOD_YEARS, ViewParams, local, parse

P = TypeVar("P", bound=ViewParams)

STATE_COLOURS = {
    State.ON_TIME.value: "#1a9641",
    State.LATE.value: "#f1a340",
    State.OPEN_OVERDUE.value: "#d7191c",
    State.OPEN_AT_RISK.value: "#fdd835",
    State.OPEN_IN_TIME.value: "#2c7bb6",
    State.NO_DEADLINE.value: "#9e9e9e",
}
STATE_LABELS = {
    State.ON_TIME.value: _l("resolved on time"),
    State.LATE.value: _l("resolved late"),
    State.OPEN_OVERDUE.value: _l("open, overdue"),
    State.OPEN_AT_RISK.value: _l("open, due soon"),
    State.OPEN_IN_TIME.value: _l("open, in time"),
    State.NO_DEADLINE.value: _l("no deadline"),
}
# On-time rate classes of the choropleth: (lower bound, colour)
RATE_CLASSES = [(0.95, "#1a9641"), (0.85, "#a6d96a"), (0.70, "#ffffbf"), (0.50, "#fdae61"), (0.0, "#d7191c")]
NO_DATA = "#d9d9d9"


def rate_colour(rate: float | None) -> str:
    if rate is None or rate != rate:
        return NO_DATA
    return next(colour for bound, colour in RATE_CLASSES if rate >= bound)


def rate_legend() -> list[tuple[str, str]]:
    return [
        ("#1a9641", "≥ 95 %"),
        ("#a6d96a", "85 – 95 %"),
        ("#ffffbf", "70 – 85 %"),
        ("#fdae61", "50 – 70 %"),
        ("#d7191c", "< 50 %"),
        (NO_DATA, str(_l("no request judged"))),
    ]


@dataclass(frozen=True)
class View:
    norm: Norm
    start: pd.Timestamp  # local, inclusive
    end: pd.Timestamp  # local, exclusive
    as_of: pd.Timestamp
    category: str | None = None
    service: str | None = None
    quarter: str | None = None
    zone: str | None = None
    states: tuple[str, ...] = field(default_factory=tuple)

    @property
    def last_day(self) -> pd.Timestamp:
        return self.end - pd.Timedelta(days=1)

    def args(self, **changes: Any) -> dict[str, str]:
        """The query string of this view (with changes), for links and forms."""
        view = replace(self, **{k: v for k, v in changes.items() if k != "norm"})
        out = {
            "norm": changes.get("norm", self.norm.code),
            "from": view.start.strftime("%Y-%m-%d"),
            "to": (view.end - pd.Timedelta(days=1)).strftime("%Y-%m-%d"),
        }
        for key in ("category", "service", "quarter", "zone"):
            if getattr(view, key):
                out[key] = getattr(view, key)
        if view.states:
            out["state"] = ",".join(view.states)
        if "as_of" in request.args:
            out["as_of"] = request.args["as_of"]
        return out

    def where(self, **extra: Any) -> RecordFilter:
        """The view's filters for the store; ``extra`` adds or overrides conditions (e.g. the
        quarters the caller may read, or a bounding box)."""
        tz = self.start.tz
        values: dict[str, Any] = {
            "categories": (self.category,) if self.category else None,
            "services": (self.service,) if self.service else None,
            "quarters": (self.quarter,) if self.quarter else None,
            "zones": (self.zone,) if self.zone else None,
            "reported_from": self.start.tz_convert(tz),
            "reported_to": self.end.tz_convert(tz),
        }
        return RecordFilter(**{**values, **extra})


def deadline_norms() -> list[Norm]:
    if "geova_norms" not in g:
        with engine().connect() as conn:
            g.geova_norms = store_deadline_norms(conn)
    return g.geova_norms


def last_report() -> pd.Timestamp | None:
    with engine().connect() as conn:
        value = catalogue.latest_report(conn)
    return pd.Timestamp(value) if value is not None else None


def view_params(model: type[P] = ViewParams) -> P:  # type: ignore[assignment]
    """The page's query string through its parameter model (400 naming a bad parameter)."""
    if "geova_view_params" not in g or not isinstance(g.geova_view_params, model):
        g.geova_view_params = parse(model)
    params: P = g.geova_view_params
    return params


def territory_clock(tz: str) -> pd.Timestamp | None:
    """The territory's ``as_of`` setting (``geova territory --as-of``): the instant pages judge
    data at when none is asked for, e.g. the demo's extract instant. None: now."""
    with engine().connect() as conn:
        value = settings(conn).get(AS_OF)
    if not value:
        return None
    try:
        return local(pd.Timestamp(value).to_pydatetime(), tz)
    except (TypeError, ValueError):
        return None  # a setting written by hand that is not an instant: ignored, pages judge now


def judging_instant(
    explicit: pd.Timestamp | None, clock: pd.Timestamp | None, now: pd.Timestamp, start: pd.Timestamp | None
) -> pd.Timestamp:
    """The instant a page judges at: the one asked for (``as_of``); else the territory's clock when
    the page looks at a period beginning before it (the demo's 2015 figures are Boston's own); else
    now (a period after the clock, or a list of what is open, shows what was reported today)."""
    if explicit is not None:
        return explicit
    if clock is not None and start is not None and start < clock:
        return clock
    return now


def _micros(ts: pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).value // 1000)


def follows_clock(view: View) -> bool:
    """Whether the view is judged at the wall clock (nothing fixes its instant)."""
    return bool(g.get("geova_follows_clock", False)) and view.as_of == g.get("geova_clock_instant")


def _note_clock(
    as_of: pd.Timestamp,
    now: pd.Timestamp,
    reference: pd.Timestamp,
    latest: pd.Timestamp | None,
    default_end: pd.Timestamp,
) -> None:
    """Tell a page cache (geova.core.validity) how the view depends on the clock: through its
    judging instant when it is now, and through its default period when the period runs up to
    now (the latest report is later than now, or there is none): then it moves at ``default_end``,
    or when the clock reaches the latest report."""
    follows = as_of is now
    g.geova_follows_clock, g.geova_clock_instant = follows, as_of
    validity.judged_at(_micros(as_of), follows)
    if reference is not now:
        return
    if latest is not None and latest <= now:
        validity.since(_micros(latest))
    else:
        moves = [default_end] if latest is None else [default_end, latest]
        validity.until(min(_micros(t) for t in moves))


def current_view(months: int = 12) -> View:
    """The view described by the request's query string, with sensible defaults: the headline norm,
    and the ``months`` months up to the territory's clock (its ``as_of`` setting, else now) or the
    latest report if earlier (the data may be older than today), or up to the territory's
    ``default_period_end`` setting when it has one. A period given by its start only runs
    ``months`` months from it. A period longer than ``MAX_PERIOD_YEARS`` is refused, whichever of
    its ends was given. The view is judged at :func:`judging_instant`."""
    tz = territory_tz()
    norms = {n.code: n for n in deadline_norms()}
    if not norms:
        raise LookupError("no active deadline norm")
    params: ViewParams = view_params()
    with engine().connect() as conn:
        norm = norms.get(params.norm or "") or headline_norm(conn) or norms[sorted(norms)[0]]
    now = pd.Timestamp(datetime.now(UTC)).tz_convert(tz)
    explicit = local(params.as_of, tz)
    clock = territory_clock(tz)
    reference = explicit or clock or now
    with engine().connect() as conn:
        fixed_end = settings(conn).get("default_period_end")  # e.g. a demo on a closed year of data
    latest = local(pd.Timestamp(fixed_end).to_pydatetime(), tz) if fixed_end else last_report()
    anchor = min(reference, latest.tz_convert(tz)) if latest is not None else reference
    default_end = (anchor.normalize() + pd.offsets.MonthBegin(1)).normalize()
    start = local(params.start, tz)
    end = local(params.end, tz, end_of_day=True)
    if end is None:
        # a start after the default end (today's reports in a demo of 2015) keeps its start
        end = default_end if start is None or start < default_end else start + pd.DateOffset(months=months)
    if start is None or start >= end:
        start = end - pd.DateOffset(months=months)
    if end - start > pd.Timedelta(days=366 * MAX_PERIOD_YEARS):
        raise ParamError("from", f"a period covers {MAX_PERIOD_YEARS} years at most")
    states = tuple(s for s in params.state if s in STATE_COLOURS)
    as_of = judging_instant(explicit, clock, now, start)
    _note_clock(as_of, now, reference, latest, default_end)
    return View(
        norm=norm,
        start=start,
        end=end,
        as_of=as_of,
        category=params.category,
        service=params.service,
        quarter=params.quarter,
        zone=params.zone,
        states=states,
    )


def visible_requests(frame: pd.DataFrame, access: RequestAccess) -> pd.DataFrame:
    """The rows of a records frame (columns ``quarter`` and ``subquarter``) the caller may read one
    by one under the access rule (geova.web.access): all of them, those of the caller's quarters,
    or none."""
    if not access.allowed:
        return frame.iloc[0:0]
    if access.quarters is None:
        return frame
    mine = frame["quarter"].isin(access.quarters)
    if "subquarter" in frame:
        mine |= frame["subquarter"].isin(access.quarters)
    return frame[mine]


def scoped_quarters(view: View, access: RequestAccess) -> tuple[str, ...] | None:
    """The quarter filter to read a view's individual requests with: the view's own quarter, or
    the caller's quarters when the rule limits them (rows are still checked by
    :func:`visible_requests`, since the view's quarter may be a sub-quarter of the caller's)."""
    if view.quarter:
        return (view.quarter,)
    return access.quarters


def evaluate_view(view: View, with_location: bool = False, **extra: Any) -> Evaluation:
    return evaluate(
        engine(),
        as_of=view.as_of,
        norm_codes=[view.norm.code],
        by=["norm"],
        where=view.where(**extra),
        with_location=with_location,
    )


def quarters(level: int | None = 0) -> pd.DataFrame:
    """(code, name, level) of the quarters of one level (every level with ``None``), by name."""
    with engine().connect() as conn:
        return catalogue.quarters(conn, level)


def zones() -> pd.DataFrame:
    with engine().connect() as conn:
        return catalogue.zones(conn)


def categories() -> pd.DataFrame:
    """The referential's categories, read once per request (several parts of a page use them)."""
    if "geova_categories" not in g:
        with engine().connect() as conn:
            g.geova_categories = catalogue.categories(conn)
    frame: pd.DataFrame = g.geova_categories
    return frame.copy()


def category_label(code: str, lang: str) -> str:
    cats = categories().set_index("code")
    if code not in cats.index:
        return code
    return str(cats.at[code, "label_fr" if lang == "fr" else "label_en"])


def services() -> list[str]:
    with engine().connect() as conn:
        return catalogue.services(conn)


def norm_label(norm: Norm, lang: str) -> str:
    return norm.label_fr if lang == "fr" else norm.label_en
