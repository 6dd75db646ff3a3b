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
>>> rows[0].ok, rows[0].slip
(False, 'a factor of 10')
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

from .derive import Derivation

__all__ = ["Claim", "grade", "load_claims", "ClaimsError", "report"]

_DERIVATIVE = re.compile(r"^d(?P<of>[^/]+)/d(?P<wrt>.+)$")
_MAX_CLAIMS_BYTES = 256_000
_MAX_DECIMALS = 15
_MAX_CLAIM = Decimal("1e15")


class ClaimsError(ValueError):
    """A claims file is malformed."""


@dataclass(frozen=True)
class Claim:
    """One judged claim."""

    key: str
    claimed: Decimal
    correct: float
    ok: bool
    slip: str = ""

    @property
    def decimals(self) -> int:
        return max(0, -self.claimed.as_tuple().exponent)

    def line(self) -> str:
        shown = f"{self.correct:.{self.decimals + 1}f}" if math.isfinite(self.correct) else "?"
        verdict = "right" if self.ok else f"WRONG (correct: {shown}"
        if not self.ok:
            verdict += f"; likely slip: {self.slip})" if self.slip else ")"
        return f"{self.key:<14} = {str(self.claimed):<10} {verdict}"


def load_claims(path: str | Path) -> dict[str, Decimal]:
    """Read ``[claims]`` from a TOML file; numbers keep the digits they were written with."""
    path = Path(path)
    try:
        # Read at most the limit and one byte: stat() says nothing of /dev/zero or a pipe.
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_CLAIMS_BYTES + 1)
        if len(raw) > _MAX_CLAIMS_BYTES:
            raise ClaimsError(f"{path}: larger than {_MAX_CLAIMS_BYTES} bytes")
        data = tomllib.loads(raw.decode("utf-8"), parse_float=Decimal)
    except FileNotFoundError:
        raise ClaimsError(f"{path}: no such file") from None
    except OSError as err:
        raise ClaimsError(f"{path}: cannot read the file: {err.strerror or err}") from None
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


def _truth(d: Derivation, values: Mapping, learning_rate: float) -> dict[str, float]:
    """Every quantity a hand calculation may claim, at full precision."""
    ev = d.evaluate(values)
    g = d.graph
    truth: dict[str, float] = {k: float(v) for k, v in values.items()}
    truth.update({k: float(v) for k, v in ev.nodes.items()})
    loss = g.loss_symbol.name
    for p, grad in ev.gradients.items():
        truth[f"d{loss}/d{p}"] = float(grad)
        truth[f"{p}'"] = float(values[p]) - learning_rate * float(grad)
    for name, delta in ev.deltas.items():
        truth[f"d{loss}/d{name}"] = float(delta)
    at = {g.symbol(k): v for k, v in truth.items() if k in g}
    from .numeric import _number

    for child in g.nodes:
        for parent in g.parents(child):
            key = f"d{child.name}/d{parent.name}"
            if key not in truth:
                truth[key] = _number(d.local(child, parent), at)
    return truth


def _by_hand(d: Derivation, values: Mapping, learning_rate: float, digits: int) -> dict[str, float]:
    """What a hand calculation gets when it rounds every intermediate to ``digits`` decimals."""
    from .numeric import worked_example

    ex = worked_example(d, values, learning_rate=learning_rate, digits=min(digits, 15),
                        rounding="by_hand")
    loss = d.graph.loss_symbol.name
    out = dict(ex.nodes)
    out.update({f"d{loss}/d{p}": v for p, v in ex.gradients.items()})
    out.update({f"{p}'": v for p, v in ex.updated.items()})
    return out


def _slip(key: str, claimed: float, correct: float, tol: float, truth: dict[str, float],
          claims: Mapping[str, Decimal], learning_rate: float, values: Mapping,
          by_hand=None) -> str:
    def near(x: float) -> bool:
        return abs(claimed - x) <= tol

    if by_hand is not None:
        # Intermediates rounded as they were written down, at the claim's precision or coarser:
        # the claim is then what the rounded numbers give, within one unit of that coarser digit.
        decimals = max(0, round(-math.log10(tol / (1 + 1e-9))))
        for digits in range(decimals, max(0, decimals - 3), -1):
            rounded = by_hand(digits).get(key)
            # At the claim's own precision, within its unit; coarser, the same number exactly.
            allowed = tol if digits == decimals else 0.5 * 10.0 ** -decimals
            if rounded is not None and abs(claimed - rounded) <= allowed:
                unit = "decimal" if digits == 1 else "decimals"
                return f"intermediates rounded to {digits} {unit} before they were used"

    if key.endswith("'"):
        p = key[:-1]
        loss = next(iter(k for k in truth if k.startswith("d") and k.endswith(f"/d{p}")), "")
        grad_key = loss if loss in claims else None
        if grad_key is not None:
            used = float(values[p]) - learning_rate * float(claims[grad_key])
            grad_wrong = abs(float(claims[grad_key]) - truth[grad_key]) > 10.0 ** (
                claims[grad_key].as_tuple().exponent)
            if near(used) and grad_wrong:
                return f"carried from the claimed {grad_key} = {claims[grad_key]}, which is wrong"
        if loss and near(float(values[p]) + learning_rate * truth[loss]):
            return "a sign: the step went with the gradient instead of against it"
    candidates = [
        (correct / 10, "a factor of 10"), (correct * 10, "a factor of 10"),
        (correct / 100, "a factor of 100"), (correct * 100, "a factor of 100"),
        (-correct, "a sign"), (correct / 2, "a missing factor 2 (or an extra ½)"),
        (correct * 2, "a missing ½ (or an extra factor 2)"),
    ]
    for value, name in candidates:
        if near(value):
            return name
    return ""


def grade(
    derivation: Derivation,
    values: Mapping,
    claims: Mapping[str, Decimal | float | int],
    learning_rate: float = 0.1,
) -> list[Claim]:
    """Judge each claim against the engine's value at the claim's own precision."""
    truth = _truth(derivation, values, learning_rate)
    hand: dict[int, dict[str, float]] = {}

    def by_hand(digits: int) -> dict[str, float]:
        if digits not in hand:
            hand[digits] = _by_hand(derivation, values, learning_rate, digits)
        return hand[digits]

    out = []
    for key, raw in claims.items():
        claimed = _claimed(key, raw)
        if key not in truth:
            known = ", ".join(sorted(k for k in truth if "/" not in k and "'" not in k)[:12])
            raise ClaimsError(
                f"claims.{_shown(key)}: not a quantity of this network (names like {known}, "
                f"'dL/dw5' or \"w5'\")"
            )
        correct = truth[key]
        decimals = max(0, -claimed.as_tuple().exponent)
        tol = 10.0 ** (-decimals) * (1 + 1e-9)
        ok = math.isfinite(correct) and abs(float(claimed) - correct) <= tol
        slip = "" if ok else _slip(key, float(claimed), correct, tol, truth, claims,
                                   learning_rate, values, by_hand)
        out.append(Claim(key, claimed, correct, ok, slip))
    return out


def report(rows: list[Claim]) -> str:
    """The graded claims as a table, one line each, and a summary."""
    wrong = [r for r in rows if not r.ok]
    lines = [r.line() for r in rows]
    lines.append(f"{len(rows) - len(wrong)} of {len(rows)} right"
                 + (f"; wrong: {', '.join(r.key for r in wrong)}" if wrong else ""))
    return "\n".join(lines) + "\n"
