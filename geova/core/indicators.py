"""Activity, impact and resource indicators (Nanterre's evaluation, seed 002 L2210-2566).

An indicator is a formula over *measures*: named numbers per period and quarter. Some are counted
from the requests the store holds (``reported``, ``resolved``, per category ``reported_graffiti``),
some are entered or imported (staff FTE, money, passages, fines...: declared in the referential's
``[[measure]]`` tables), and two are quarter attributes (``population``, ``street_km``).

Formulas are safe arithmetic: parsed with :mod:`ast`, only numbers, measure names, ``+ - * /``,
unary minus and parentheses are allowed, and they are evaluated by walking the tree, never by
``eval``. A division by zero or a measure without a figure gives no value, with the reason.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class IndicatorKind(StrEnum):
    ACTIVITY = "activity"  # what the services did
    IMPACT = "impact"  # the effect on incivilities
    RESOURCE = "resource"  # staff and money, and the efficiency ratios


ATTRIBUTES = ("population", "street_km")  # quarter attributes, not summed over months
DERIVED = ("reported", "resolved")  # counted from the stored requests; also per category


def derived_names(categories: Iterable[str]) -> set[str]:
    """The measure names counted from requests: ``reported``, ``resolved`` and the same per
    category (``reported_graffiti``)."""
    names = set(DERIVED)
    for code in categories:
        names.update(f"{d}_{code}" for d in DERIVED)
    return names


@dataclass(frozen=True)
class MeasureDef:
    code: str
    label_fr: str
    label_en: str
    unit: str | None = None


@dataclass(frozen=True)
class IndicatorDef:
    code: str
    kind: IndicatorKind
    label_fr: str
    label_en: str
    formula: str
    unit: str | None = None
    position: int = 0

    def label(self, lang: str) -> str:
        return self.label_fr if lang == "fr" else self.label_en


class FormulaError(ValueError):
    """A formula that is not safe arithmetic over names and numbers."""


_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div)


def parse_formula(text: str) -> ast.Expression:
    """The formula's tree, or FormulaError saying what is not allowed."""
    if len(text) > 500:
        raise FormulaError("a formula has at most 500 characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"not a formula ({exc.msg}): {text!r}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Expression | ast.Load | ast.Name | ast.UnaryOp | ast.USub | ast.UAdd):
            continue
        if isinstance(node, ast.BinOp) and isinstance(node.op, _BINARY):
            continue
        if isinstance(node, _BINARY):
            continue
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            continue
        raise FormulaError(
            f"only numbers, measure names, + - * / and parentheses are allowed; "
            f"found {type(node).__name__.lower()} in {text!r}"
        )
    return tree


def formula_names(text: str) -> list[str]:
    """The measure names a formula uses, in order of first use."""
    out: list[str] = []
    for node in ast.walk(parse_formula(text)):
        if isinstance(node, ast.Name) and node.id not in out:
            out.append(node.id)
    return out


class NoValue(Exception):
    """Why a formula has no value (a missing measure, a division by zero)."""


def _walk(node: ast.AST, values: Mapping[str, float | None]) -> float:
    if isinstance(node, ast.Expression):
        return _walk(node.body, values)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        value = values.get(node.id)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise NoValue(f"no figure for {node.id}")
        return float(value)
    if isinstance(node, ast.UnaryOp):
        operand = _walk(node.operand, values)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = _walk(node.left, values), _walk(node.right, values)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if right == 0:
            raise NoValue(f"division by zero ({ast.unparse(node.right)} is 0)")
        return left / right
    raise NoValue(f"not allowed: {type(node).__name__}")  # parse_formula refused it already


@dataclass(frozen=True)
class Outcome:
    value: float | None
    reason: str | None = None  # why there is no value


def compute(formula: str, values: Mapping[str, float | None]) -> Outcome:
    """The formula's value over ``values``, or no value with the reason."""
    try:
        result = _walk(parse_formula(formula), values)
    except NoValue as exc:
        return Outcome(None, str(exc))
    if math.isinf(result) or math.isnan(result):
        return Outcome(None, "not a finite number")
    return Outcome(result)
