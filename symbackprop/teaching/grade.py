"""Grading a hand calculation: claimed numbers against the engine's, with the likely slip.

A claims file is TOML with one ``[claims]`` table. Its keys name what was computed:

- a node or leaf: ``z1 = 0.47``, ``yhat = 0.645``, ``L = 0.126``;
- a derivative: ``"dL/dyhat" = -0.71`` (a local factor), ``"dL/dw5" = -0.01`` (a gradient);
- an updated parameter: ``"w5'" = 0.551``.

A claim is judged at the precision it is written with (``0.645`` has 3 decimals; the number is
read as text, so ``0.600`` keeps its zeros): right when it is within one unit of its last digit
of the true value, which allows for intermediates rounded along the way.

>>> import symbackprop as sb
>>> d = sb.derive(sb.mlp([2, 2, 1]))
>>> v = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
>>> rows = grade(d, v, {"dL/dw5": Decimal("-0.01")}, learning_rate=0.1)
>>> rows[0].ok, rows[0].slip.name
(False, 'factor_10')
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ..check.worked import worked_example
from ..core.errors import SymbackpropError
from ..core.files import read_input
from ..derivation.reverse import Derivation
from ..output.reports import render_text
from .latexparse import canonical, parse_side
from .slips import HandCalculator, Slip
from .spellings import SymbolTable, claim_key

__all__ = ["Claim", "Grader", "grade", "load_claims", "ClaimsError", "report", "printable"]

_DERIVATIVE = re.compile(r"^d(?P<of>[^/]+)/d(?P<wrt>.+)$")
_MAX_CLAIMS_BYTES = 256_000
_MAX_DECIMALS = 15
_MAX_CLAIM = Decimal("1e15")
# Control characters (ESC, BEL, CR, C1 …) but newline and tab: a student's text in a report
# must not drive the grader's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Slips of the number itself: the only ones an update shows without the η it used.
_NUMBER_SLIPS = frozenset({"learning_rate_sign", "factor_10", "factor_100", "sign",
                           "two_missing", "half_missing"})


def printable(text: str) -> str:
    """``text`` with its control characters (all but newline and tab) shown as U+FFFD.

    >>> printable("z_1 = 1\x1b[2J\x07")
    'z_1 = 1\ufffd[2J\ufffd'
    """
    return _CONTROL.sub("\ufffd", str(text))


class ClaimsError(SymbackpropError, ValueError):
    """A claims file is malformed."""


@dataclass(frozen=True)
class Claim:
    """One judged claim."""

    key: str
    claimed: Decimal
    correct: float
    ok: bool
    slip: Slip | None = None
    written: str = ""

    @property
    def decimals(self) -> int:
        return max(0, -self.claimed.as_tuple().exponent)

    @property
    def shown(self) -> str:
        """The correct value, one digit finer than the claim."""
        return f"{self.correct:.{self.decimals + 1}f}" if math.isfinite(self.correct) else "?"


def load_claims(path: str | Path) -> dict[str, Decimal]:
    """Read ``[claims]`` from a TOML file; numbers keep the digits they were written with."""
    path = Path(path)
    raw = read_input(path, _MAX_CLAIMS_BYTES, ClaimsError)
    if len(raw) > _MAX_CLAIMS_BYTES:
        raise ClaimsError(f"{path}: larger than {_MAX_CLAIMS_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"), parse_float=Decimal)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ClaimsError(f"{path}: not valid TOML: {str(err).splitlines()[0]}") from None
    except RecursionError:
        raise ClaimsError(f"{path}: not valid TOML: nested too deeply") from None
    unknown = sorted(set(data) - {"claims"})
    if unknown or not isinstance(data.get("claims"), dict):
        raise ClaimsError(f"{path}: expected one [claims] table of name = number"
                          + (f", found {unknown}" if unknown else ""))
    claims = {}
    for key, value in data["claims"].items():
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise ClaimsError(f"{path}: claims.{_shown(key)}: expected a number, got "
                              f"{type(value).__name__}")
        claims[key] = _claimed(key, value, f"{path}: ")
    return claims


def _shown(key: str) -> str:
    """A claim's key as one short line (it is the user's text, shown in a message)."""
    text = json.dumps(str(key), ensure_ascii=True)[1:-1]
    return text if len(text) <= 40 else text[:39] + "…"


def _claimed(key: str, value, where: str = "") -> Decimal:
    """The claimed number, finite and written with at most 15 decimals (as a hand would)."""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if not number.is_finite() or abs(number) > _MAX_CLAIM:
        raise ClaimsError(f"{where}claims.{_shown(key)}: expected a finite number below 1e15, "
                          f"got {_shown(str(value))}")
    if -number.as_tuple().exponent > _MAX_DECIMALS:
        raise ClaimsError(f"{where}claims.{_shown(key)}: more than {_MAX_DECIMALS} decimals")
    return number


class Grader:
    """The engine's numbers and the slips' numbers for one network at one set of values.

    >>> import symbackprop as sb
    >>> d = sb.derive(sb.mlp([2, 2, 1]))
    >>> v = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
    >>> Grader(d, v, 0.1).judge("δ_z3", Decimal("-0.16")).key
    'dL/dz3'
    """

    def __init__(self, derivation: Derivation, values: Mapping, learning_rate: float = 0.1,
                 calculator=None, rounding: str = "display"):
        self.derivation, self.values, self.learning_rate = derivation, values, learning_rate
        #: "by_hand": the rule of an exercise set that rounds every intermediate; a claim that
        #: follows it (the number its answer key prints) is right too.
        self.rounding = rounding
        self.calc = calculator or HandCalculator(derivation, values, learning_rate)
        self.truth = self.calc.truth
        self._hand: dict[int, dict[str, float]] = {}
        self._names = None
        self.seen: set[str] = set()  # the slips diagnosed so far, in the order claims come

    def key(self, written: str) -> str:
        """grade's name for a claim written as the notes print it (δ_z3, \\delta_{z_3}, dL/dz3)."""
        key = str(written).strip()
        if key in self.truth:
            return key
        if self._names is None:  # built on the first key not written as grade names it
            self._names = SymbolTable(self.derivation)
        direct = self._names(canonical(key))
        found = claim_key(direct, self.derivation.graph) if direct is not None else ""
        m = None if found else _DERIVATIVE.match(key.replace("∂", "d"))
        if m:
            of, wrt = (self._part(part) for part in (m.group("of"), m.group("wrt")))
            found = f"d{of}/d{wrt}" if of and wrt else ""
        elif not found and key.endswith("'") and self._part(key[:-1]) in self._parameters:
            found = self._part(key[:-1]) + "'"  # W_hh': the update of a parameter
        elif not found:
            side = parse_side(key, self._names)
            if side.expr is not None and not side.free and not side.literals:
                found = claim_key(side.expr, self.derivation.graph)
        if found in self.truth:
            return found
        g = self.derivation.graph
        known = ", ".join(sorted(k for k in self.truth if "/" not in k and "'" not in k)[:12])
        p, node = g.parameters[0].name, next(iter(g.delta_nodes), g.nodes[0]).name
        loss = g.loss_symbol.name
        raise ClaimsError(
            f"claims.{_shown(key)}: not a quantity of this network (names like {known}, "
            f"'d{loss}/d{p}', 'delta_{node}' or \"{p}'\")"
        )

    @property
    def _parameters(self) -> set[str]:
        return {p.name for p in self.derivation.graph.parameters}

    def _part(self, part: str) -> str:
        """One side of ``dA/dB`` in a claim key: a plain name first (``W_hh`` is the matrix
        W_{hh}, not W_h·h as LaTeX would read it), else read as LaTeX."""
        graph = self.derivation.graph
        direct = self._names(canonical(part))
        if direct is not None:
            return claim_key(direct, graph)
        expr = parse_side(part, self._names).expr
        return claim_key(expr, graph) if expr is not None else ""

    def judge(self, written: str, raw, claims: Mapping[str, Decimal] | None = None) -> Claim:
        """One claim judged at its own precision, with its likely slip when wrong."""
        key = self.key(written)
        claimed = _claimed(written, raw)
        correct = self.truth[key]
        decimals = max(0, -claimed.as_tuple().exponent)
        tol = 10.0 ** (-decimals) * (1 + 1e-9)
        ok = math.isfinite(correct) and abs(float(claimed) - correct) <= tol
        if not ok and self.rounding == "by_hand":
            by_rule = self.by_hand(decimals).get(key, math.nan)
            ok = math.isfinite(by_rule) and abs(float(claimed) - by_rule) <= tol
        slip = None if ok else self.diagnose(key, claimed, claims or {})
        return Claim(key, claimed, correct, ok, slip, written=str(written))

    def by_hand(self, digits: int) -> dict[str, float]:
        """What a hand calculation gets when it rounds every intermediate to ``digits``."""
        if digits not in self._hand:
            ex = worked_example(self.derivation, self.values, learning_rate=self.learning_rate,
                                digits=min(digits, 15), rounding="by_hand")
            loss = self.derivation.graph.loss_symbol.name
            out = dict(ex.nodes)
            out.update({f"d{loss}/d{p}": v for p, v in ex.gradients.items()})
            out.update({f"{p}'": v for p, v in ex.updated.items()})
            self._hand[digits] = out
        return self._hand[digits]

    def diagnose(self, key: str, claimed: Decimal, claims: Mapping[str, Decimal]) -> Slip | None:
        """The likely slip behind a wrong written number (None: no known slip gives it)."""
        decimals = max(0, -claimed.as_tuple().exponent)
        tol = 10.0 ** (-decimals) * (1 + 1e-9)
        value = float(claimed)
        # A wrong number this claim was computed from explains it better than rounding does.
        slip = self._carried(key, value, tol, claims) or self._rounded(key, value, decimals, tol)
        if slip is not None:
            return slip.spelled(self.derivation.graph)
        return self.diagnose_value(key, value, tol, claims)

    def diagnose_value(self, key: str, value: float, tol: float,
                       claims: Mapping[str, Decimal], eta_known: bool = False) -> Slip | None:
        """The slip whose result is nearest ``value``, among those within ``tol`` of it.

        An update ``p'`` = p − η·g that is wrong may have used another η: a slip of the gradient
        g is named only when the η is known to be the spec's (``eta_known``: written as η);
        otherwise only the slips of the number itself are, as any number is some η away.
        """
        correct = self.truth[key]
        found = list(self.calc.candidates(key))
        found += [(Slip(name), candidate) for candidate, name in (
            (correct / 10, "factor_10"), (correct * 10, "factor_10"),
            (correct / 100, "factor_100"), (correct * 100, "factor_100"), (-correct, "sign"),
            (correct / 2, "two_missing"), (correct * 2, "half_missing"))]
        # A slip already seen in this work explains a later number before a coincidence does
        # (a softmax′ slip above, then a gradient computed from it).
        if key.endswith("'") and not eta_known:
            found = [(slip, slipped) for slip, slipped in found if slip.name in _NUMBER_SLIPS]
        near = [(slip.name not in self.seen, abs(value - slipped), k, slip)
                for k, (slip, slipped) in enumerate(found) if abs(value - slipped) <= tol]
        if not near:
            return None
        slip = min(near, key=lambda t: t[:3])[3]
        self.seen.add(slip.name)
        return slip.spelled(self.derivation.graph)

    def _rounded(self, key: str, value: float, decimals: int, tol: float) -> Slip | None:
        # One intermediate written down coarser than the claim and used so: which one.
        for digits in range(decimals - 1, max(0, decimals - 3), -1):
            for node in self.calc.intermediates():
                if node.name == key:
                    continue
                got = self.calc.rounded(node, digits).get(key)
                if got is not None and abs(value - got) <= 0.5 * 10.0 ** -decimals and \
                        abs(got - self.truth[key]) > 1e-12:
                    return Slip("rounded_early", {"node": node.name, "digits": digits})
        # Every intermediate rounded as it was written down.
        for digits in range(decimals, max(0, decimals - 3), -1):
            got = self.by_hand(digits).get(key)
            allowed = tol if digits == decimals else 0.5 * 10.0 ** -decimals
            if got is not None and abs(value - got) <= allowed:
                return Slip("rounded_all", {"digits": digits})
        return None

    def _carried(self, key: str, value: float, tol: float,
                 claims: Mapping[str, Decimal]) -> Slip | None:
        if not key.endswith("'"):
            return None
        p = key[:-1]
        grad_key = f"d{self.derivation.graph.loss_symbol.name}/d{p}"
        written = claims.get(grad_key)
        if written is None:
            return None
        used = float(self.values[p]) - self.learning_rate * float(written)
        unit = 10.0 ** written.as_tuple().exponent
        if abs(value - used) <= tol and abs(float(written) - self.truth[grad_key]) > unit:
            return Slip("carried", {"key": grad_key, "value": str(written)})
        return None


def grade(
    derivation: Derivation,
    values: Mapping,
    claims: Mapping[str, Decimal | float | int],
    learning_rate: float = 0.1,
    rounding: str = "display",
) -> list[Claim]:
    """Judge each claim against the engine's value at the claim's own precision.

    Keys may be written as the notes print them: ``delta_z3``, ``δ_z3``, ``\\delta_{z_3}``,
    ``dL/dz3``, ``∂L/∂z_3``, ``\\hat{y}``. With ``rounding="by_hand"`` (an exercise set's
    rule), the number a hand calculation rounding every intermediate gets is right too.
    """
    grader = Grader(derivation, values, learning_rate, rounding=rounding)
    by_key = {grader.key(k): _claimed(k, v) for k, v in claims.items()}
    return [grader.judge(k, v, by_key) for k, v in claims.items()]


def report(rows: list[Claim], language: str = "en") -> str:
    """The graded claims as a table, one line each, and a summary."""
    wrong = [printable(r.written or r.key) for r in rows if not r.ok]  # as the claims wrote them
    shown = [dict(key=printable(r.written or r.key), claimed=str(r.claimed), ok=r.ok,
                  shown=r.shown,
                  slip=r.slip.name if r.slip else "",
                  d=dict(r.slip.shown or r.slip.detail) if r.slip else {})
             for r in rows]
    return render_text("grade.txt.j2", language, rows=shown, right=len(rows) - len(wrong),
                       total=len(rows), wrong=wrong)
