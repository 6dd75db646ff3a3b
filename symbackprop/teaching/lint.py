"""Checking someone else's LaTeX derivation, line by line, against the engine's.

Every equality in the math of a LaTeX file (``equation``, ``align``, ``$$…$$``, ``\\[…\\]`` and
inline ``$…$``) is read by :mod:`symbackprop.teaching.latexparse` (a reader that cannot run code), its
symbols mapped through the network's notation (and a ``[lint.symbols]`` table), and each side
compared with the first: at the spec's values at the precision it is written with (a written
number stands for its value within one unit of its last digit, and a side computed from
written numbers inherits their uncertainty), and, for a side without numbers, in general, at
random points. A wrong side gets the right value and the likely slip, as in ``grade``; a side
that cannot be read or mapped is listed as not checked, never passed.

>>> import symbackprop as sb
>>> d = sb.derive(sb.mlp([2, 2, 1]))
>>> v = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
>>> result = lint(r"\\[ z_1 = x_1 w_1 + x_2 w_3 = 0.47 \\quad z_2 = 0.35 \\]", d, v)
>>> [(s.text, s.verdict) for s in result.lines[0].sides[1:]] + [(result.lines[1].sides[1].text,
...   result.lines[1].sides[1].verdict)]
[('x_1 w_1 + x_2 w_3', 'right'), ('0.47', 'right'), ('0.35', 'wrong')]
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import sympy as sp

from ..codegen.scalar import NUMPY_FUNCTIONS
from ..core.files import read_input
from ..core.graph import Kind
from ..derivation.reverse import Derivation
from ..output.reports import render_text
from ..printing.latex import TexPrinter
from .grade import Grader, printable
from .handpass import compile_expr, evaluate_at
from .latexdocument import (
    MAX_DOCUMENT,
    MAX_EQUATIONS,
    LatexError,
    Side,
    check_document,
    find_math,
    split_chain,
    statements,
)
from .latexparse import LEARNING_RATE, MAX_TREE, Updated, parse_side, tree_size
from .slips import HandCalculator, Slip
from .spellings import SymbolTable, claim_key, read_lint_symbols

__all__ = ["lint", "read_tex", "LintResult", "LintLine", "LintSide", "SymbolTable", "LatexError",
           "read_lint_symbols", "report"]

_POINTS = 3
#: Sides of all equations together: a chain ``a = b = c = …`` is as much work as its sides.
MAX_SIDES = 4 * MAX_EQUATIONS


@dataclass
class LintSide:
    """One side of an equation and what lint made of it."""

    text: str
    relation: str
    verdict: str  # "reference", "right", "wrong", "not checked"
    reason: str = ""  # why not checked: a code, worded in templates/lint.txt.j2
    what: str = ""  # the symbol or command the reason is about
    right: str = ""  # the right value (wrong sides)
    right_latex: str = ""  # the engine's form of the quantity (wrong symbolic sides)
    slip: Slip | None = None
    general: bool = False  # wrong in general though right at these numbers
    note: str = ""  # "rounding": right within one unit, yet not the value rounded
    rounded: str = ""  # the value rounded to the written digits (with note "rounding")
    value: str = ""  # what a wrong formula evaluates to at the spec's values


@dataclass
class LintLine:
    """One equation (a chain ``a = b = c``) and the line it is on."""

    line: int
    text: str
    sides: list[LintSide] = field(default_factory=list)

    @property
    def wrong(self) -> bool:
        return any(s.verdict == "wrong" for s in self.sides)

    @property
    def unchecked(self) -> bool:
        return any(s.verdict == "not checked" for s in self.sides)

    @property
    def noted(self) -> bool:
        return any(s.note for s in self.sides)


@dataclass
class LintResult:
    """Every equation found; ``ok`` when none is wrong."""

    lines: list[LintLine]
    steps: int = 0  # characters and tokens the reader went through: its work, for the tests

    @property
    def ok(self) -> bool:
        return not any(line.wrong for line in self.lines)

    @property
    def wrong(self) -> list[LintLine]:
        return [line for line in self.lines if line.wrong]


class _Checker:
    """Values and general forms of everything a side may name, at the spec and at random points."""

    def __init__(self, derivation: Derivation, values: Mapping | None, learning_rate: float):
        self.d, self.g = derivation, derivation.graph
        self.lr = float(learning_rate)
        self.has_values = values is not None
        rng = random.Random(20231105)
        if values is None:  # no numbers: symbolic checks only, at random points
            values = {s.name: 0.5 for s in self.g.leaves}
            self.calc = HandCalculator(derivation, values, learning_rate)
            self.at = self._random_point(rng)
        else:
            self.calc = HandCalculator(derivation, values, learning_rate)
            self.at = self.calc.forward()
        self.points = [self._random_point(rng) for _ in range(_POINTS)]
        self._total: dict[tuple, sp.Expr] = {}
        self._compiled: dict[sp.Expr, tuple] = {}

    def _random_point(self, rng: random.Random) -> dict:
        g = self.g
        leaves = {}
        for s in g.leaves:
            low = 0.05 if g.kind(s) is Kind.TARGET else -1.0
            leaves[s] = rng.uniform(low, 0.95)
        for group in g.one_hot_groups:
            for k, s in enumerate(group):
                leaves[s] = float(k == 0)
        self.calc.values, saved = leaves, self.calc.values
        try:
            at = self.calc.forward()
        finally:
            self.calc.values = saved
        return at

    def total(self, of: sp.Symbol, wrt: sp.Symbol) -> sp.Expr:
        """∂of/∂wrt through every path, in node symbols (local factors multiplied)."""
        key = (of, wrt)
        if key not in self._total:
            if of == wrt:
                self._total[key] = sp.Integer(1)
            else:
                self._total[key] = sp.Add(*[self.total(of, c) * self.d.local(c, wrt)
                                            for c in self.g.children(wrt)
                                            if c == of or of in self._descendants(c)])
        return self._total[key]

    def _descendants(self, s: sp.Symbol) -> set:
        out, todo = set(), [s]
        while todo:
            for c in self.g.children(todo.pop()):
                if c not in out:
                    out.add(c)
                    todo.append(c)
        return out

    def concrete(self, expr: sp.Expr) -> sp.Expr | None:
        """``expr`` with derivatives and updates written out in node symbols (None: not ours)."""
        replace = {}
        for der in expr.atoms(sp.Derivative):
            inner, wrt = der.expr, der.variables[0]
            if not (wrt.is_Symbol and wrt in self.g):
                return None
            if inner.is_Symbol and inner in self.g:
                replace[der] = self.total(inner, wrt)
            else:
                replace[der] = sp.diff(inner, wrt)
        for up in expr.atoms(Updated):
            p = self.g.symbol(up.name[:-1]) if up.name[:-1] in self.g else None
            if p is None or self.g.kind(p) is not Kind.PARAMETER:
                return None
            replace[up] = p - LEARNING_RATE * self.total(self.g.loss_symbol, p)
        return expr.xreplace(replace) if replace else expr

    def value(self, expr: sp.Expr, literals: Mapping, point: Mapping | None = None,
              free: Mapping | None = None) -> float:
        at = dict(point or self.at)
        at[LEARNING_RATE] = self.lr
        at.update({k: float(v) for k, v in literals.items()})
        at.update(free or {})
        missing = expr.free_symbols - set(at)
        if missing:
            raise KeyError(missing)
        if expr not in self._compiled:  # a side is evaluated at several points: compile once
            self._compiled[expr] = compile_expr(expr)
        return evaluate_at(self._compiled[expr], at)

    def uncertainty(self, expr: sp.Expr, literals: Mapping[sp.Symbol, Decimal]) -> float:
        """How far a side may be off because its written numbers are rounded (first order)."""
        units = {lit: 10.0 ** value.as_tuple().exponent for lit, value in literals.items()
                 if lit in expr.free_symbols}
        if not units:
            return 0.0
        # Every partial derivative in one compiled function: one compilation per side, not one
        # per written number.
        partials = sp.Tuple(*(_partial(expr, lit) for lit in units))
        if tree_size(partials, 8 * MAX_TREE) > 8 * MAX_TREE:  # compiled as a tree: refused
            raise ValueError("too large to evaluate")
        at = dict(self.at)
        at[LEARNING_RATE] = self.lr
        at.update({k: float(v) for k, v in literals.items()})
        symbols = tuple(sorted(partials.free_symbols, key=sp.default_sort_key))
        try:
            if set(symbols) - set(at):
                raise KeyError(set(symbols) - set(at))
            values = sp.lambdify(symbols, list(partials), modules=[NUMPY_FUNCTIONS, "numpy"])(
                *(at[x] for x in symbols))
            slopes = [float(v) for v in values]
        except (KeyError, ValueError, TypeError, ZeroDivisionError):
            slopes = [math.inf] * len(units)
        return math.fsum(abs(slope) * unit if math.isfinite(slope) else unit
                         for slope, unit in zip(slopes, units.values(), strict=True))


def _partial(expr: sp.Expr, lit: sp.Symbol) -> sp.Expr:
    """∂expr/∂lit, over the terms of a sum that hold ``lit`` only (most hold one number)."""
    if expr.is_Add:
        return sp.Add(*[sp.diff(t, lit) for t in expr.args if lit in t.free_symbols])
    return sp.diff(expr, lit)


def _literal_number(side: Side) -> Decimal | None:
    """The number a side writes, when the side is just a (signed) number."""
    expr = side.expr
    if len(side.literals) == 1:
        (lit, value), = side.literals.items()
        if expr == lit:
            return value
        if expr == -lit:
            return -value
    return None


def lint(tex: str, derivation: Derivation, values: Mapping | None = None, *,
         learning_rate: float = 0.1, symbols: Mapping[str, object] | None = None,
         language: str = "en") -> LintResult:
    """Check every equation in ``tex`` against ``derivation`` at ``values``.

    Without ``values`` only the general (symbolic) equalities are checked; written numbers are
    listed as not checked. ``symbols`` maps extra spellings to names (``[lint.symbols]``).
    ``language`` is accepted for symmetry with :func:`report` (lint's result is data).
    """
    work = [0]
    chains = _equations(find_math(tex, work))
    table = SymbolTable(derivation, symbols)
    checker = _Checker(derivation, values, learning_rate)
    grader = Grader(derivation, values, learning_rate, calculator=checker.calc)
    claims: dict[str, Decimal] = {}
    lines, steps = [], work[0]
    for line, statement, chain in chains:
        sides = [parse_side(s.text, table) for s in chain]
        for parsed, raw in zip(sides, chain, strict=True):
            parsed.relation = raw.relation
        steps += len(statement) + sum(s.steps for s in sides)
        lines.append(_check_chain(line, statement, sides, checker, grader, claims))
    return LintResult(lines, steps)


def _equations(spans) -> list[tuple[int, str, list[Side]]]:
    """(line, statement, its sides) of every equation, counted before any side is read: a
    file of more than MAX_EQUATIONS equations or MAX_SIDES sides is refused as a whole."""
    out, previous, sides = [], None, 0
    for span in spans:
        for statement in statements(span.text):
            chain = split_chain(statement)
            if len(chain) < 2:
                continue
            if not chain[0].text and previous:  # an align row "&= …" continues the chain above
                chain[0] = Side(previous.text)
            previous = chain[0]
            sides += len(chain)
            out.append((span.line, statement, chain))
            if len(out) > MAX_EQUATIONS or sides > MAX_SIDES:
                raise LatexError(f"more than {MAX_EQUATIONS} pieces of mathematics "
                                 f"(or {MAX_SIDES} sides of equations): split the file")
    return out


def _check_chain(line: int, text: str, sides: list[Side], checker: _Checker, grader,
                 claims: dict) -> LintLine:
    g = checker.g
    first = sides[0]
    if first.expr is not None and first.expr.is_Symbol and first.expr in g and \
            g.kind(first.expr) is Kind.PARAMETER and any(
                s.expr is not None and LEARNING_RATE in s.expr.free_symbols for s in sides[1:]):
        first.expr = Updated(first.expr.name + "'", real=True)  # w = w − η ∂L/∂w: an update
    out = LintLine(line, " ".join(text.split()))
    reference, last = None, None
    for side in sides:
        verdict = LintSide(side.text, side.relation, "not checked")
        out.sides.append(verdict)
        if side.expr is None:
            verdict.reason, verdict.what = side.problem
            continue
        concrete = checker.concrete(side.expr)
        if concrete is None:
            verdict.reason = "not_network"
            continue
        if reference is None:
            reference = (side, concrete)
            verdict.verdict = "reference"
            continue
        last = _compare(reference, side, concrete, verdict, checker, grader, claims, last)
    if all(s.verdict in ("reference", "not checked") for s in out.sides):
        for s in out.sides:  # nothing was compared: the readable side was not checked either
            if s.verdict == "reference":
                s.verdict, s.reason = "not checked", "alone"
    return out


def _compare(reference, side: Side, concrete: sp.Expr, verdict: LintSide, checker: _Checker,
             grader, claims: dict, previous: float | None = None) -> float | None:
    """Judge one side against the chain's reference; returns the side's value (for the next)."""
    ref_side, ref_expr = reference
    free = ref_side.free | side.free
    network = {s for s in (ref_expr.free_symbols | concrete.free_symbols)
               if s in checker.g or s == LEARNING_RATE}
    try:
        if free:
            if network or ref_side.literals or side.literals:
                verdict.reason = "mixed_free"
                return
            if ref_expr in free:  # y = …: a definition of y, not an identity
                verdict.reason = "definition"
                return
            ok = _identity(ref_expr, concrete, checker, free)
            verdict.verdict = "right" if ok else "wrong"
            verdict.general = not ok
            return
        # A side that names none of the network's quantities is a number, whether written in
        # decimals or as \frac{47}{100}: it is judged at the spec's values, not in general.
        numbers = bool(ref_side.literals or side.literals) or not _names_network(
            ref_expr, checker) or not _names_network(concrete, checker)
        if not checker.has_values and numbers:
            if not (ref_side.literals or side.literals) and _identity(ref_expr, concrete,
                                                                      checker, set()):
                verdict.verdict = "right"  # ∂z_1/∂w_2 = 0: true in general, values or not
            else:
                verdict.reason = "no_values"
            return
        ref_value = checker.value(ref_expr, ref_side.literals)
        value = checker.value(concrete, side.literals)
        tol = (checker.uncertainty(ref_expr, ref_side.literals)
               + checker.uncertainty(concrete, side.literals))
    except (KeyError, ValueError, TypeError, ZeroDivisionError, OverflowError) as err:
        verdict.reason = "not_network" if isinstance(err, KeyError) else "cannot_evaluate"
        return
    scale = max(1.0, abs(ref_value))
    ok = math.isfinite(value) and abs(value - ref_value) <= tol * (1 + 1e-9) + 1e-12 * scale
    key = claim_key(ref_side.expr, checker.g)
    number = _literal_number(side)
    if number is not None and key:
        claims[key] = number
    if ok and not numbers:
        ok = _identity(ref_expr, concrete, checker, set())
        verdict.general = not ok
    verdict.verdict = "right" if ok else "wrong"
    if ok:
        if number is not None:
            _rounding_note(verdict, number, ref_value, previous)
        return value
    decimals = max([-v.as_tuple().exponent for v in side.literals.values()] + [3]) + 1
    verdict.right = f"{ref_value:.{min(decimals, 12)}f}" if checker.has_values else ""
    if checker.has_values and number is None and math.isfinite(value):
        verdict.value = f"{value:.{min(decimals, 12)}f}"  # what the written formula gives
    if not side.literals and not verdict.general:
        shown = ref_expr
        if shown.is_Symbol and shown in checker.g and checker.g.kind(shown) is not Kind.PARAMETER \
                and checker.g.kind(shown) in (Kind.NODE, Kind.LOSS):
            shown = checker.g.expr(shown)  # a node: what it is defined as
        verdict.right_latex = TexPrinter(checker.d)(shown)
    verdict.slip = _diagnose(key, ref_side, value, tol, checker, grader, claims, number,
                             side.expr)
    return value


def _names_network(expr: sp.Expr, checker: _Checker) -> bool:
    """Whether ``expr`` names a quantity of the network (or η), not only numbers."""
    return any(s in checker.g or s == LEARNING_RATE for s in expr.free_symbols)


def _rounding_note(verdict: LintSide, number: Decimal, exact: float, previous: float | None):
    """A right number that neither the exact value nor the line's own step rounds to (0.645 for
    σ(0.6) = 0.6457): within the one-unit rule, but truncated rather than rounded."""
    digits = max(0, -number.as_tuple().exponent)
    shown = f"{exact:.{digits}f}"
    candidates = [exact] + ([previous] if previous is not None else [])
    if all(Decimal(f"{x:.{digits}f}") != number for x in candidates):
        verdict.note, verdict.rounded = "rounding", shown


def _diagnose(key: str, ref_side: Side, value: float, tol: float, checker: _Checker, grader,
              claims: dict, number: Decimal | None, written=None) -> Slip | None:
    ref = ref_side.expr
    g = checker.g
    if isinstance(ref, sp.Derivative) and isinstance(written, sp.Derivative) and \
            ref.expr == written.expr == g.loss_symbol:
        node, other = ref.variables[0], written.variables[0]
        if node in g and other in g.children(node) and g.kind(other) is Kind.NODE:
            return Slip("activation_for_pre_activation")
    if isinstance(ref, sp.Derivative) and ref.expr.is_Symbol and ref.expr in checker.g:
        function = checker.at.get(ref.expr)
        if function is not None and abs(value - function) <= max(tol, 1e-9):
            return Slip("function_for_derivative")
    if not key or key not in grader.truth:
        return None
    tolerance = max(tol, 1e-9 * max(1.0, abs(value)))
    if number is not None:
        return grader.diagnose(key, number, claims)
    # An update written with η itself used the spec's η: a slip of its gradient then fits.
    eta = written is not None and LEARNING_RATE in written.free_symbols
    return grader.diagnose_value(key, value, tolerance, claims, eta_known=eta)


def _identity(a: sp.Expr, b: sp.Expr, checker: _Checker, free: set) -> bool:
    """a = b at random points (of the network, or of free variables): an identity test."""
    rng = random.Random(7)
    points = checker.points if not free else [{} for _ in range(_POINTS)]
    for point in points:
        values = {f: rng.uniform(-1.5, 1.5) for f in free}
        try:
            x = checker.value(a, {}, point or None, values)
            y = checker.value(b, {}, point or None, values)
        except (KeyError, ValueError, TypeError, ZeroDivisionError, OverflowError):
            return True  # cannot decide numerically: the number check stands
        if not math.isclose(x, y, rel_tol=1e-7, abs_tol=1e-9):
            return False
    return True


def report(result: LintResult, source: str = "", language: str = "en") -> str:
    """lint's report: each wrong line with what it says, what is right and the likely slip."""
    shown = LintResult([replace(line, text=printable(line.text), sides=[
        replace(s, text=printable(s.text), what=printable(s.what)) for s in line.sides])
        for line in result.lines], result.steps)
    return render_text("lint.txt.j2", language, result=shown, source=printable(source))


def read_tex(path: str | Path) -> str:
    """A LaTeX file's text, refused (LatexError) when too large, not UTF-8 or hostile."""
    path = Path(path)
    data = read_input(path, MAX_DOCUMENT * 4, LatexError)
    if len(data) > MAX_DOCUMENT * 4:
        raise LatexError(f"{path}: larger than {MAX_DOCUMENT} characters")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise LatexError(f"{path}: not UTF-8 (byte {err.start})") from None
    try:
        check_document(text)
    except LatexError as err:
        raise LatexError(f"{path}: {err}") from None
    return text
