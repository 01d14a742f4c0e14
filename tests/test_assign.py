"""Spatial assignment of points to quarters and zones (``geova.core.assign``): pure, no database."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geova.core.assign import Area, assign_points


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(x0, y0, x1, y1)


def assign(points: list[tuple[float, float]], quarters=(), zones=()):
    xs = np.array([p[0] for p in points], dtype=float)
    ys = np.array([p[1] for p in points], dtype=float)
    return assign_points(xs, ys, list(quarters), list(zones))


# --- unit tests -----------------------------------------------------------------------------------


def test_no_areas_leaves_every_point_outside():
    result = assign([(0.5, 0.5), (2, 2)])
    assert result.quarter.tolist() == [-1, -1]
    assert result.subquarter.tolist() == [-1, -1]
    assert result.zone_pairs == []
    assert result.outside == 2


def test_no_points():
    result = assign([], [Area(1, box(0, 0, 1, 1), code="A")], [Area(9, box(0, 0, 1, 1), code="Z")])
    assert len(result.quarter) == 0 and len(result.subquarter) == 0
    assert result.zone_pairs == [] and result.outside == 0


def test_points_get_the_id_of_their_quarter_and_outside_ones_are_counted():
    quarters = [Area(101, box(0, 0, 1, 1), code="A"), Area(57, box(1, 0, 2, 1), code="B")]
    result = assign([(0.5, 0.5), (1.5, 0.5), (5, 5), (-0.1, 0.5)], quarters)
    assert result.quarter.tolist() == [101, 57, -1, -1]
    assert result.subquarter.tolist() == [-1, -1, -1, -1]  # one level only: no sub-quarter
    assert result.outside == 2
    assert result.quarter.dtype == np.int64


def test_quarter_is_the_top_level_and_subquarter_the_deepest():
    quarters = [
        Area(3, box(0.25, 0.25, 0.5, 0.5), level=2, code="A-1-a"),
        Area(1, box(0, 0, 1, 1), level=0, code="A"),
        Area(2, box(0, 0, 0.5, 0.5), level=1, code="A-1"),
    ]
    result = assign([(0.3, 0.3), (0.1, 0.1), (0.9, 0.9)], quarters)
    assert result.quarter.tolist() == [1, 1, 1]
    assert result.subquarter.tolist() == [3, 2, -1]


def test_a_point_in_a_subquarter_only_has_no_quarter():
    # a sub-quarter sticking out of its parent (sloppy data): the point is outside the territory
    quarters = [Area(1, box(0, 0, 1, 1), code="A"), Area(2, box(0.5, 0, 1.5, 1), level=1, code="A-1")]
    result = assign([(1.2, 0.5)], quarters)
    assert result.quarter.tolist() == [-1]
    assert result.subquarter.tolist() == [2]
    assert result.outside == 1


def test_holes_and_multipolygons():
    ring = shapely.Polygon([(0, 0), (3, 0), (3, 3), (0, 3)], holes=[[(1, 1), (2, 1), (2, 2), (1, 2)]])
    islands = shapely.MultiPolygon([box(10, 10, 11, 11), box(20, 20, 21, 21)])
    quarters = [
        Area(1, ring, code="ring"),
        Area(2, box(1, 1, 2, 2), code="enclave"),
        Area(3, islands, code="islands"),
    ]
    result = assign([(0.5, 0.5), (1.5, 1.5), (20.5, 20.5), (15, 15)], quarters)
    assert result.quarter.tolist() == [1, 2, 3, -1]


def test_overlapping_quarters_go_to_the_smallest_code_whatever_the_order():
    a = Area(7, box(0, 0, 2, 2), code="B")
    b = Area(8, box(1, 1, 3, 3), code="A")
    for quarters in ([a, b], [b, a]):
        result = assign([(1.5, 1.5), (0.5, 0.5), (2.5, 2.5)], quarters)
        assert result.quarter.tolist() == [8, 7, 8]


def test_boundary_points_belong_somewhere_and_to_the_smallest_code():
    left, right = Area(1, box(0, 0, 1, 1), code="Q2"), Area(2, box(1, 0, 2, 1), code="Q1")
    on_edge, on_outer_edge, corner = (1.0, 0.5), (0.0, 0.5), (2.0, 1.0)
    for quarters in ([left, right], [right, left]):
        result = assign([on_edge, on_outer_edge, corner], quarters)
        # shared edge: both cover it, "Q1" < "Q2"; outer edge and corner: covered, so inside
        assert result.quarter.tolist() == [2, 1, 2]
        assert result.outside == 0


def test_on_a_boundary_the_subquarter_is_taken_under_the_quarter():
    # Paris-like codes: arrondissement "10" sorts before "3", but quarter "7510302" (in the 3e)
    # before "7511003" (in the 10e); a point on their common boundary must not mix the two.
    quarters = [
        Area(1, box(0, 0, 1, 1), code="3"),
        Area(2, box(1, 0, 2, 1), code="10"),
        Area(11, box(0, 0, 1, 1), level=1, code="7510302", parent=1),
        Area(12, box(1, 0, 2, 1), level=1, code="7511003", parent=2),
    ]
    result = assign([(1.0, 0.5), (0.5, 0.5)], quarters)
    assert result.quarter.tolist() == [2, 1]
    assert result.subquarter.tolist() == [12, 11]


def test_without_parent_links_the_deepest_smallest_code_wins():
    quarters = [
        Area(1, box(0, 0, 1, 1), code="3"),
        Area(2, box(1, 0, 2, 1), code="10"),
        Area(11, box(0, 0, 1, 1), level=1, code="7510302"),
        Area(12, box(1, 0, 2, 1), level=1, code="7511003"),
    ]
    assert assign([(1.0, 0.5)], quarters).subquarter.tolist() == [11]


def test_parent_cycles_do_not_hang():
    quarters = [
        Area(1, box(0, 0, 1, 1), level=1, code="A", parent=2),
        Area(2, box(0, 0, 1, 1), level=1, code="B", parent=1),
    ]
    assert assign([(0.5, 0.5)], quarters).subquarter.tolist() == [1]


def test_points_in_several_zones_get_every_zone():
    zones = [
        Area(30, box(0, 0, 2, 2), code="Z1"),
        Area(10, box(1, 1, 3, 3), code="Z2"),
        Area(20, box(5, 5, 6, 6), code="Z3"),
    ]
    result = assign([(1.5, 1.5), (0.5, 0.5), (4, 4), (2.5, 2.5), (2.0, 2.0)], [], zones)
    # (point position, zone id), sorted; a point on a zone's edge is in the zone
    assert result.zone_pairs == [(0, 10), (0, 30), (1, 30), (3, 10), (4, 10), (4, 30)]
    assert result.outside == 5  # zones are not quarters


def test_zones_do_not_affect_quarters():
    quarters = [Area(1, box(0, 0, 1, 1), code="A")]
    zones = [Area(1, box(0, 0, 10, 10), code="Z")]  # ids of zones and quarters are separate spaces
    result = assign([(0.5, 0.5), (5, 5)], quarters, zones)
    assert result.quarter.tolist() == [1, -1]
    assert result.zone_pairs == [(0, 1), (1, 1)]


def test_lon_lat_order():
    # x is the longitude, y the latitude: Notre-Dame de Paris, not a point off Somalia
    paris = Area(1, box(2.2, 48.8, 2.5, 48.9), code="75")
    result = assign([(2.3499, 48.8530), (48.8530, 2.3499)], [paris])
    assert result.quarter.tolist() == [1, -1]


def test_accepts_lists_and_integer_coordinates():
    result = assign_points([0, 5], [0, 5], [Area(1, box(-1, -1, 1, 1), code="A")], [])
    assert result.quarter.tolist() == [1, -1]


# --- property tests -------------------------------------------------------------------------------

coord = st.floats(min_value=-10, max_value=10, allow_nan=False, allow_infinity=False)


@st.composite
def rectangles(draw: st.DrawFn) -> shapely.Polygon:
    x0, x1 = sorted(draw(st.tuples(coord, coord).filter(lambda t: abs(t[0] - t[1]) > 1e-3)))
    y0, y1 = sorted(draw(st.tuples(coord, coord).filter(lambda t: abs(t[0] - t[1]) > 1e-3)))
    return box(x0, y0, x1, y1)


@st.composite
def territories(draw: st.DrawFn) -> list[Area]:
    """Random, possibly overlapping quarters on up to three levels, with unique ids and codes."""
    shapes = draw(st.lists(rectangles(), min_size=1, max_size=8))
    levels = draw(st.lists(st.integers(0, 2), min_size=len(shapes), max_size=len(shapes)))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=len(shapes), max_size=len(shapes), unique=True))
    codes = draw(st.lists(st.text("ABC0123", min_size=1, max_size=3), min_size=len(shapes), unique=True))
    return [
        Area(id=i, geom=g, level=lv, code=c) for i, g, lv, c in zip(ids, shapes, levels, codes, strict=False)
    ]


points_st = st.lists(st.tuples(coord, coord), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(territories(), points_st)
def test_property_top_quarter_covers_the_point_and_is_the_best_candidate(quarters, points):
    result = assign(points, quarters)
    by_id = {q.id: q for q in quarters}
    assert result.quarter.shape == result.subquarter.shape == (len(points),)
    for (x, y), q, s in zip(points, result.quarter, result.subquarter, strict=True):
        p = shapely.Point(x, y)
        tops = [a for a in quarters if a.level == 0 and a.geom.covers(p)]
        subs = [a for a in quarters if a.level > 0 and a.geom.covers(p)]
        # at most one top quarter, a covering level-0 one, the smallest code among them
        if tops:
            assert q == min(tops, key=lambda a: a.code).id
            assert by_id[int(q)].geom.covers(p)
        else:
            assert q == -1
        if subs:
            deepest = max(a.level for a in subs)
            assert s == min((a for a in subs if a.level == deepest), key=lambda a: a.code).id
        else:
            assert s == -1
    assert result.outside == int((result.quarter == -1).sum())


@settings(max_examples=100, deadline=None)
@given(territories(), points_st, st.randoms(use_true_random=False))
def test_property_result_does_not_depend_on_the_order_of_areas(quarters, points, rnd):
    shuffled = list(quarters)
    rnd.shuffle(shuffled)
    zones = [Area(q.id, q.geom, code=q.code) for q in quarters]
    shuffled_zones = list(zones)
    rnd.shuffle(shuffled_zones)
    a = assign(points, quarters, zones)
    b = assign(points, shuffled, shuffled_zones)
    assert a.quarter.tolist() == b.quarter.tolist()
    assert a.subquarter.tolist() == b.subquarter.tolist()
    assert a.zone_pairs == b.zone_pairs


@settings(max_examples=100, deadline=None)
@given(territories(), points_st)
def test_property_zone_pairs_are_exactly_the_covering_zones(zones, points):
    result = assign(points, [], zones)
    expected = sorted(
        (i, z.id) for i, (x, y) in enumerate(points) for z in zones if z.geom.covers(shapely.Point(x, y))
    )
    assert result.zone_pairs == expected


@st.composite
def grids(draw: st.DrawFn) -> tuple[int, int, list[Area], dict[tuple[int, int], Area]]:
    """A square partitioned into nx * ny unit cells, codes shuffled so that code order != position."""
    nx, ny = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    cells = [(i, j) for i in range(nx) for j in range(ny)]
    codes = draw(st.permutations([f"C{k:02d}" for k in range(len(cells))]))
    by_cell = {
        (i, j): Area(id=100 + k, geom=box(i, j, i + 1, j + 1), code=codes[k])
        for k, (i, j) in enumerate(cells)
    }
    return nx, ny, list(by_cell.values()), by_cell


@settings(max_examples=150, deadline=None)
@given(grids(), st.data())
def test_property_grid_interior_points_go_to_their_cell(grid, data):
    nx, ny, quarters, by_cell = grid
    xs = st.floats(min_value=0, max_value=nx, exclude_min=True, exclude_max=True)
    ys = st.floats(min_value=0, max_value=ny, exclude_min=True, exclude_max=True)
    points = data.draw(
        st.lists(st.tuples(xs, ys).filter(lambda p: p[0] % 1 and p[1] % 1), min_size=1, max_size=40)
    )
    result = assign(points, quarters)
    expected = [by_cell[(int(np.floor(x)), int(np.floor(y)))].id for x, y in points]
    assert result.quarter.tolist() == expected
    assert result.outside == 0


@settings(max_examples=150, deadline=None)
@given(grids(), st.data())
def test_property_grid_boundary_points_are_deterministic(grid, data):
    nx, ny, quarters, _ = grid
    # points on the grid lines (edges, corners, the outer boundary included)
    on_x = st.tuples(st.integers(0, nx).map(float), st.floats(min_value=0, max_value=ny))
    on_y = st.tuples(st.floats(min_value=0, max_value=nx), st.integers(0, ny).map(float))
    points = data.draw(st.lists(st.one_of(on_x, on_y), min_size=1, max_size=40))
    shuffled = data.draw(st.permutations(quarters))
    first = assign(points, quarters)
    again = assign(points, shuffled)
    assert first.quarter.tolist() == again.quarter.tolist()
    by_id = {q.id: q for q in quarters}
    for (x, y), q in zip(points, first.quarter, strict=True):
        p = shapely.Point(x, y)
        assert q != -1, "a point on the square's edges still belongs to a cell"
        covering = [a for a in quarters if a.geom.covers(p)]
        assert by_id[int(q)] == min(covering, key=lambda a: a.code)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_property_subquarter_lies_in_the_quarter_on_shared_boundaries(nx, ny, data):
    """Two levels: 2x2 sub-cells in every cell. Whatever the codes, a point on a boundary between
    two quarters gets a sub-quarter of the quarter it was given, never one of the neighbour's."""
    parents = [(i, j) for i in range(nx) for j in range(ny)]
    parent_codes = data.draw(st.permutations([f"P{k:02d}" for k in range(len(parents))]))
    quarters = [
        Area(id=k + 1, geom=box(i, j, i + 1, j + 1), code=parent_codes[k]) for k, (i, j) in enumerate(parents)
    ]
    subs = [
        (k + 1, i + di / 2, j + dj / 2) for k, (i, j) in enumerate(parents) for di in (0, 1) for dj in (0, 1)
    ]
    sub_codes = data.draw(st.permutations([f"S{k:03d}" for k in range(len(subs))]))
    quarters += [
        Area(id=1000 + k, geom=box(x, y, x + 0.5, y + 0.5), level=1, code=sub_codes[k], parent=parent)
        for k, (parent, x, y) in enumerate(subs)
    ]
    on_x = st.tuples(st.integers(0, nx).map(float), st.floats(min_value=0, max_value=ny))
    on_y = st.tuples(st.floats(min_value=0, max_value=nx), st.integers(0, ny).map(float))
    points = data.draw(st.lists(st.one_of(on_x, on_y), min_size=1, max_size=20))
    result = assign(points, quarters)
    by_id = {q.id: q for q in quarters}
    for q, s in zip(result.quarter, result.subquarter, strict=True):
        assert q != -1 and s != -1
        assert by_id[int(q)].geom.covers(by_id[int(s)].geom)
