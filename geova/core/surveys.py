"""Field cleanliness surveys, exploratory walks and residents' perception, as plain data.

The objective measure cities use (England's Code of Practice on Litter and Refuse, its national
indicator NI 195; French cities' associations' 0–4 grid by family of waste): surveyors walk a random
sample of transects and grade each one per element; the indicator is the share of transects below
the acceptable grade, given here with its 95 % Wilson score interval, since a share from 30
transects is not a share from 3,000.

Pure: no Flask, no SQL. Sampling uses numpy's ``Generator`` (PCG64) seeded by the campaign: the
same seed, areas and allocation give the same transects, point for point.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

OTHER = "other"  # the stratum of a quarter outside every priority zone
ANY = "any"  # the element "at least one element below the acceptable grade"
Z95 = 1.959963984540054  # the standard normal quantile of 0.975


@dataclass(frozen=True)
class Element:
    code: str
    label_fr: str
    label_en: str


@dataclass(frozen=True)
class Grid:
    """Grades from best to worst; a transect element is acceptable at ``acceptable`` or better."""

    code: str
    label_fr: str
    label_en: str
    grades: tuple[str, ...]
    acceptable: str
    elements: tuple[Element, ...]

    def __post_init__(self) -> None:
        if len(self.grades) < 2 or len(set(self.grades)) != len(self.grades):
            raise ValueError("grades: at least two grades, each once")
        if self.acceptable not in self.grades:
            raise ValueError(f"acceptable grade '{self.acceptable}' is not one of the grades")
        if not self.elements or len({e.code for e in self.elements}) != len(self.elements):
            raise ValueError("elements: at least one element, each code once")

    def below(self, grade: str) -> bool:
        """True when the grade is worse than the acceptable grade."""
        if grade not in self.grades:
            raise ValueError(f"grade '{grade}' is not one of {', '.join(self.grades)}")
        return self.grades.index(grade) > self.grades.index(self.acceptable)

    def check(self, grades: Mapping[str, str]) -> dict[str, str]:
        """The grades of one transect, each element known and each grade of this grid."""
        codes = {e.code for e in self.elements}
        unknown = sorted(set(grades) - codes)
        if unknown:
            raise ValueError(f"unknown element(s) {', '.join(unknown)} for grid '{self.code}'")
        if not grades:
            raise ValueError("no grade given")
        for element, grade in grades.items():
            if grade not in self.grades:
                raise ValueError(
                    f"element '{element}': grade '{grade}' is not one of {', '.join(self.grades)}"
                )
        return dict(grades)

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "label_fr": self.label_fr,
            "label_en": self.label_en,
            "grades": list(self.grades),
            "acceptable": self.acceptable,
            "element": [e.__dict__ for e in self.elements],
        }


def grid_from_dict(raw: Mapping[str, object]) -> Grid:
    elements = raw.get("element") or []
    return Grid(
        code=str(raw["code"]),
        label_fr=str(raw.get("label_fr", raw["code"])),
        label_en=str(raw.get("label_en", raw.get("label_fr", raw["code"]))),
        grades=tuple(str(g) for g in raw["grades"]),  # type: ignore[attr-defined]
        acceptable=str(raw["acceptable"]),
        elements=tuple(
            Element(str(e["code"]), str(e.get("label_fr", e["code"])), str(e.get("label_en", e["code"])))
            for e in elements  # type: ignore[attr-defined]
        ),
    )


# England's Code of Practice on Litter and Refuse (grades A, B+, B, B-, C, D; B or better is acceptable).
DEFAULT_GRID = Grid(
    code="cop",
    label_fr="Code of Practice on Litter and Refuse (Angleterre) : A à D",
    label_en="Code of Practice on Litter and Refuse (England): A to D",
    grades=("A", "B+", "B", "B-", "C", "D"),
    acceptable="B",
    elements=(
        Element("litter", "Déchets (papiers, emballages)", "Litter"),
        Element("detritus", "Détritus (poussières, feuilles, sable)", "Detritus"),
        Element("graffiti", "Graffitis", "Graffiti"),
        Element("flyposting", "Affichage sauvage", "Fly-posting"),
    ),
)


# ---- the confidence interval ---------------------------------------------------------------------


def wilson_interval(below: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a share ``below / n`` (E. B. Wilson, 1927):

        centre = (p + z²/2n) / (1 + z²/n),  half = z / (1 + z²/n) · sqrt(p(1-p)/n + z²/4n²)

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or n."""
    if n <= 0:
        raise ValueError("a share needs at least one transect")
    if not 0 <= below <= n:
        raise ValueError("below must be between 0 and n")
    p = below / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


# ---- the sample ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stratum:
    quarter: str
    kind: str  # a zone kind, or OTHER
    geom: shapely.Geometry


@dataclass(frozen=True)
class Transect:
    position: int  # 1, 2, ... in the order drawn (the surveyor's list)
    quarter: str
    zone_kind: str  # a zone kind, or OTHER
    zone: str | None  # the zone the point falls in (the first by code), None outside zones
    lon: float
    lat: float


def strata(
    quarters: Sequence[tuple[str, shapely.Geometry]],
    zones: Sequence[tuple[str, str, shapely.Geometry]],
) -> list[Stratum]:
    """Each quarter cut into disjoint strata: one per zone kind it holds (kinds in alphabetical order,
    a zone of two kinds counted in the first), and the rest of the quarter (OTHER)."""
    by_kind: dict[str, list[shapely.Geometry]] = defaultdict(list)
    for _code, kind, geom in zones:
        by_kind[kind].append(geom)
    kinds = sorted(by_kind)
    unions = {k: shapely.union_all(by_kind[k]) for k in kinds}
    out: list[Stratum] = []
    for code, qgeom in sorted(quarters, key=lambda q: q[0]):
        taken = shapely.Polygon()
        for kind in kinds:
            part = shapely.difference(shapely.intersection(qgeom, unions[kind]), taken)
            if part.area > 0:
                out.append(Stratum(code, kind, part))
            taken = shapely.union(taken, unions[kind])
        rest = shapely.difference(qgeom, taken)
        if rest.area > 0:
            out.append(Stratum(code, OTHER, rest))
    return out


def allocate(parts: Sequence[Stratum], size: int, allocation: Mapping[str, int] | None = None) -> list[int]:
    """Transects per stratum of one quarter: ``allocation`` (kind -> count) when configured, a kind
    it does not name getting none; else ``size`` shared in proportion to the strata's areas (largest
    remainders), each stratum at least one when ``size`` allows."""
    if allocation is not None:
        return [int(allocation.get(p.kind, 0)) for p in parts]
    if size <= 0 or not parts:
        return [0] * len(parts)
    areas = np.array([p.geom.area for p in parts])
    floor = 1 if size >= len(parts) else 0
    counts = np.full(len(parts), floor)
    left = size - int(counts.sum())
    quotas = areas / areas.sum() * left
    counts += np.floor(quotas).astype(int)
    rest = size - int(counts.sum())
    order = np.argsort(-(quotas - np.floor(quotas)), kind="stable")
    counts[order[:rest]] += 1
    return [int(c) for c in counts]


def _points_in(geom: shapely.Geometry, count: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """``count`` points drawn uniformly (in lon/lat) inside ``geom`` by rejection from its bounds."""
    if count <= 0:
        return []
    minx, miny, maxx, maxy = geom.bounds
    shapely.prepare(geom)
    found: list[tuple[float, float]] = []
    for _ in range(1000):
        batch = max(16, 4 * (count - len(found)))
        xs = rng.uniform(minx, maxx, batch)
        ys = rng.uniform(miny, maxy, batch)
        inside = shapely.contains_xy(geom, xs, ys)
        found.extend(zip(xs[inside].tolist(), ys[inside].tolist(), strict=True))
        if len(found) >= count:
            return found[:count]
    raise ValueError("could not draw points inside a stratum (a sliver of a polygon?)")


def draw_sample(
    quarters: Sequence[tuple[str, shapely.Geometry]],
    zones: Sequence[tuple[str, str, shapely.Geometry]],
    size: int,
    seed: int,
    allocation: Mapping[str, int] | None = None,
) -> list[Transect]:
    """The campaign's transects: per quarter (by code), per stratum (by kind), points drawn with one
    ``numpy.random.Generator`` seeded by ``seed``: the same inputs give the same transects."""
    if size < 0 or (allocation is not None and any(v < 0 for v in allocation.values())):
        raise ValueError("sample sizes cannot be negative")
    rng = np.random.default_rng(seed)
    parts = strata(quarters, zones)
    by_quarter: dict[str, list[Stratum]] = defaultdict(list)
    for p in parts:
        by_quarter[p.quarter].append(p)
    zone_list = sorted(zones, key=lambda z: z[0])
    out: list[Transect] = []
    for code in sorted(by_quarter):
        mine = by_quarter[code]
        for stratum, count in zip(mine, allocate(mine, size, allocation), strict=True):
            for lon, lat in _points_in(stratum.geom, count, rng):
                zone = next(
                    (z for z, k, g in zone_list if k == stratum.kind and shapely.contains_xy(g, lon, lat)),
                    None,
                )
                out.append(Transect(len(out) + 1, code, stratum.kind, zone, round(lon, 7), round(lat, 7)))
    return out


# ---- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Graded:
    """One graded transect: where it is and its grades (the latest entry for the transect)."""

    quarter: str
    zone_kind: str
    zone: str | None
    grades: Mapping[str, str]


@dataclass(frozen=True)
class ResultRow:
    level: str  # "city", "quarter", "zone", "zone_kind"
    key: str  # the quarter or zone code, the zone kind, or "" for the city
    element: str  # an element code, or ANY
    transects: int
    below: int
    share: float
    low: float
    high: float


def _below(grid: Grid, t: Graded, element: str) -> bool | None:
    if element == ANY:
        return any(grid.below(g) for g in t.grades.values())
    grade = t.grades.get(element)
    return None if grade is None else grid.below(grade)


def survey_results(
    graded: Iterable[Graded], grid: Grid, levels: Sequence[str] = ("city", "quarter", "zone", "zone_kind")
) -> list[ResultRow]:
    """Per level and key, per element and for ANY element: transects graded, how many below the
    acceptable grade, the share and its 95 % Wilson interval. A transect not graded on an element
    does not count for that element."""
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    elements = [e.code for e in grid.elements] + [ANY]
    for t in graded:
        keys = {
            "city": "",
            "quarter": t.quarter,
            "zone": t.zone,
            "zone_kind": t.zone_kind,
        }
        for element in elements:
            below = _below(grid, t, element)
            if below is None:
                continue
            for level in levels:
                key = keys[level]
                if key is None:
                    continue
                c = counts[(level, key, element)]
                c[0] += 1
                c[1] += int(below)
    rows = []
    order = {lvl: i for i, lvl in enumerate(levels)}
    position = {e: i for i, e in enumerate(elements)}
    for (level, key, element), (n, k) in sorted(
        counts.items(), key=lambda kv: (order[kv[0][0]], kv[0][1], position[kv[0][2]])
    ):
        low, high = wilson_interval(k, n)
        rows.append(ResultRow(level, key, element, n, k, k / n, low, high))
    return rows


# ---- survey norms --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyNorm:
    """ "At most ``max_share`` % of transects below the acceptable grade" over the transects of the
    zone kinds / quarters named (all when none), on one element or on ANY."""

    code: str
    grid: str
    label_fr: str
    label_en: str
    max_share: float  # percent
    element: str = ANY
    zone_kinds: tuple[str, ...] = ()
    quarters: tuple[str, ...] = ()
    min_transects: int = 10

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "zone_kinds": list(self.zone_kinds), "quarters": list(self.quarters)}


def survey_norm_from_dict(raw: Mapping[str, object]) -> SurveyNorm:
    return SurveyNorm(
        code=str(raw["code"]),
        grid=str(raw["grid"]),
        label_fr=str(raw.get("label_fr", raw["code"])),
        label_en=str(raw.get("label_en", raw.get("label_fr", raw["code"]))),
        max_share=float(raw["max_share"]),  # type: ignore[arg-type]
        element=str(raw.get("element", ANY)),
        zone_kinds=tuple(raw.get("zone_kinds", ()) or ()),  # type: ignore[arg-type]
        quarters=tuple(raw.get("quarters", ()) or ()),  # type: ignore[arg-type]
        min_transects=int(raw.get("min_transects", 10)),  # type: ignore[call-overload]
    )


MET, NOT_MET, NOT_ENOUGH = "met", "not_met", "not_enough"


@dataclass(frozen=True)
class NormOutcome:
    norm: SurveyNorm
    verdict: str  # MET, NOT_MET or NOT_ENOUGH
    transects: int
    below: int
    share: float | None
    low: float | None
    high: float | None


def evaluate_survey_norm(norm: SurveyNorm, graded: Iterable[Graded], grid: Grid) -> NormOutcome:
    """The norm against the campaign's graded transects in its scope: met when the share below
    the acceptable grade is at most ``max_share`` %, not enough with fewer than ``min_transects``."""
    n = k = 0
    for t in graded:
        if norm.zone_kinds and t.zone_kind not in norm.zone_kinds:
            continue
        if norm.quarters and t.quarter not in norm.quarters:
            continue
        below = _below(grid, t, norm.element)
        if below is None:
            continue
        n += 1
        k += int(below)
    if n == 0:
        return NormOutcome(norm, NOT_ENOUGH, 0, 0, None, None, None)
    low, high = wilson_interval(k, n)
    share = k / n
    if n < norm.min_transects:
        verdict = NOT_ENOUGH
    else:
        verdict = MET if share * 100 <= norm.max_share + 1e-9 else NOT_MET
    return NormOutcome(norm, verdict, n, k, share, low, high)


# ---- residents' perception -----------------------------------------------------------------------

SCALE = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Perception:
    key: str  # quarter or zone code
    question: str  # "cleanliness" or "safety"
    answers: int
    mean: float | None
    distribution: dict[int, int] = field(default_factory=dict)  # score -> answers


def perception_results(answers: Iterable[tuple[str, int | None, int | None]]) -> list[Perception]:
    """Per key (quarter or zone) and question: the count, mean and distribution of scores 1–5;
    an unanswered question (None) is left out of that question's figures."""
    scores: dict[tuple[str, str], list[int]] = defaultdict(list)
    for key, cleanliness, safety in answers:
        for question, score in (("cleanliness", cleanliness), ("safety", safety)):
            if score is not None:
                if score not in SCALE:
                    raise ValueError(f"score {score} is not between 1 and 5")
                scores[(key, question)].append(score)
    out = []
    for (key, question), values in sorted(scores.items()):
        counts = Counter(values)
        out.append(
            Perception(
                key, question, len(values), sum(values) / len(values), {s: counts.get(s, 0) for s in SCALE}
            )
        )
    return out
