"""The general form of a model: reverse mode over indexed operations with symbolic sizes.

A model is a list of :class:`Quantity` families, each defined entry by entry, ``h[t, j] =
tanh(a[t, j])``, with index ranges such as 1 ≤ t ≤ T that stay symbols. Sums appear only at the
top level of a definition (``a[t, j] = b[j] + Σ_k W[j, k] h[t−1, k] + Σ_i U[j, i] x[t, i]``), so
each definition is linear in its sums and every occurrence of an input is one term.

Reverse mode is one rule, the chain rule with its index bookkeeping (micrograd's ``_backward``
written for index families): an occurrence ``Q[f(J, K)]`` in the definition of ``C[J]``, under
sums over K, sends to ``Q[I]``

    Σ_{J, K : f(J, K) = I} δC[J] · ∂C[J]/∂Q[f(J, K)]

and the constraint f(J, K) = I is solved for as many of J, K as it fixes (it is linear), so
that h[t−1, k] gives δa[t+1, ·] (BPTT), x[i+k−1] gives Σ_k δz[m−k+1] w[k] (a full convolution
with the flipped kernel) and w[k] gives Σ_i δz[i] x[i+k−1] (a correlation). Every quantity,
δs included, is zero outside its index range (δ_{T+1} = 0, zero padding).

Local derivatives are taken by SymPy and written in node names (tanh′(a) = 1 − h², as
:mod:`symbackprop.derivation.reverse` does). The δs a builder does not name are substituted away, so the
printed recursion is the textbook's.

>>> from symbackprop.forms.models import conv1d_form
>>> form = conv1d_form("tanh")
>>> print(form.equation("gradient", "x").latex())
\\frac{\\partial L}{\\partial x_{i}} = \\sum_{k=1}^{K} \\delta_{i - k + 1} w_{k}
>>> form.check({"n": 5, "K": 3}) < 1e-12
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..check.report import GeneralCheck, GeneralCheckRow
from ..codegen.general import BatchedEvaluator
from ..core.errors import CheckError
from ..core.indexed import Quantity, as_basic
from ..derivation.reverse import derive
from ..printing.general_latex import GeneralLatexPrinter
from .base import Form
from .general_tidy import factored, into_sums, merge_sum, rename_bound, shorter
from .numbers import scalar_numbers

__all__ = ["Quantity", "GeneralEquation", "GeneralForm", "GeneralLatexPrinter"]

@dataclass(frozen=True)
class GeneralEquation:
    """One equation of a general form: ``lhs = rhs``; kind is forward, delta or gradient."""

    kind: str
    name: str
    lhs: sp.Expr
    rhs: sp.Expr
    printer: GeneralLatexPrinter = field(repr=False, compare=False, default=None)

    @property
    def stage(self) -> str:
        """forward, loss, delta or gradient (the Form protocol's word for ``kind``)."""
        return self.kind

    def latex(self) -> str:
        p = self.printer or GeneralLatexPrinter({})
        return f"{p.doprint(self.lhs)} = {p.doprint(self.rhs)}"


def _occurrences(expr: sp.Expr, q: Quantity) -> list[sp.Expr]:
    if q.indices:
        found = {a for a in expr.atoms(sp.Indexed) if a.base.name == q.name}
    else:
        found = {q.base} & expr.free_symbols
    return sorted(found, key=sp.default_sort_key)


def _terms(expr: sp.Expr) -> list[tuple[sp.Expr, tuple]]:
    """expr as (summand, limits) pairs; expr must be linear in its (top-level) sums."""
    out: list[tuple[sp.Expr, tuple]] = []
    for term in sp.Add.make_args(sp.expand(expr, deep=False, mul=True, power_base=False,
                                           power_exp=False, log=False, multinomial=False)):
        coeff, rest = term.as_independent(sp.Sum, as_Add=False)
        if isinstance(rest, sp.Sum):
            for inner, lims in _terms(rest.function):
                out.append((coeff * inner, tuple(rest.limits) + lims))
        else:
            out.append((term, ()))
    return out


def _local(summand: sp.Expr, occ: sp.Expr) -> sp.Expr:
    u = sp.Dummy("u", real=True)
    return sp.diff(summand.xreplace({occ: u}), u).xreplace({u: occ})


class GeneralForm(Form):
    """Forward definitions, the derived δ of every quantity, and gradients, with symbolic sizes.

    ``named`` lists the quantities whose δ the textbook names (kept as δ symbols in the
    printed equations); the others are substituted away. ``instance(sizes)`` returns, for an
    instantiated scalar model, a function that maps a quantity's name and integer indices to
    that model's symbol, so that :meth:`check` can compare every entry.
    """

    kind = "general"

    def __init__(self, title: str, quantities: Sequence[Quantity], loss: Quantity,
                 named: Sequence[str], sizes: Mapping[str, sp.Symbol],
                 build: Callable[[Mapping[str, int]], tuple[object, Callable]],
                 delta_latex: Mapping[str, str] | None = None,
                 facts: Callable[[sp.Expr], sp.Expr] | None = None,
                 input_gradients: Sequence[str] = (),
                 check_sizes: Sequence[Mapping[str, int]] = (),
                 assumptions: Sequence[sp.Eq] = ()) -> None:
        self.title = title
        #: What the derivation takes as given (Σ_k y_{t,k} = 1: one-hot targets), printed with it
        self.assumptions = tuple(assumptions)
        self.quantities = {q.name: q for q in (*quantities, loss)}
        self.loss = loss
        self.named = tuple(named)
        self.sizes = dict(sizes)
        self._build = build
        self._facts = facts or (lambda e: e)
        self.input_gradients = tuple(input_gradients)
        self.check_sizes = [dict(c) for c in check_sizes]
        self._verified = False
        self._equations: list[GeneralEquation] | None = None
        self.delta_base = {n: sp.IndexedBase(f"delta_{n}") for n in self.quantities}
        latex = {q.name: q.latex for q in self.quantities.values()}
        for n in self.quantities:
            latex[f"delta_{n}"] = (delta_latex or {}).get(n, rf"\delta^{{{latex[n]}}}")
        self.printer = GeneralLatexPrinter(latex)
        self.printer.names.update({str(s): self.printer.size(s) for s in self.sizes.values()})
        self._textbook = self._textbook_rules()
        self.deltas = self._backward()

    # -- reverse mode -----------------------------------------------------------------------------
    def _delta_at(self, name: str, ix) -> sp.Expr:
        if name == self.loss.name:
            return sp.S.One
        q = self.quantities[name]
        return self.delta_base[name][tuple(ix)] if q.indices else sp.Symbol(f"delta_{name}")

    def _consumers(self, q: Quantity) -> list[Quantity]:
        return [c for c in self.quantities.values()
                if c.expr is not None and _occurrences(c.expr, q)]

    def _backward(self) -> dict[str, sp.Expr]:
        """δQ[I] = Σ over consumers and occurrences of the chain rule, from the loss back."""
        deltas: dict[str, sp.Expr] = {}
        for q in reversed(list(self.quantities.values())):
            if q is self.loss or q.kind == "target" or (
                    q.kind == "input" and q.name not in self.input_gradients):
                continue
            deltas[q.name] = sp.Add(*[t for c in self._consumers(q)
                                      for t in self._contributions(c, q)])
        return deltas

    def _contributions(self, c: Quantity, q: Quantity) -> list[sp.Expr]:
        out = []
        for summand, limits in _terms(c.expr):
            for occ in _occurrences(summand, q):
                local = self._textbook(factored(_local(summand, occ)))
                variables = [(v, as_basic(lo), as_basic(hi))
                             for v, (lo, hi) in zip(c.indices, c.ranges, strict=True)]
                variables += [tuple(lim) for lim in limits]
                # fresh names, so that the consumer's indices cannot meet q's
                fresh = {v: sp.Dummy(v.name, integer=True) for v, _, _ in variables}
                variables = [(fresh[v], lo.xreplace(fresh), hi.xreplace(fresh))
                             for v, lo, hi in variables]
                occ_ix = [as_basic(i).xreplace(fresh) for i in
                          (occ.indices if q.indices else ())]
                body = self._delta_at(c.name, [i.xreplace(fresh) for i in c.indices]) * \
                    local.xreplace(fresh)
                solved: dict[sp.Symbol, sp.Expr] = {}
                for target, expr in zip(q.indices, occ_ix, strict=True):
                    eq = (expr - target).xreplace(solved)
                    free = [v for v, _, _ in variables if v not in solved and eq.has(v)]
                    pick = next((v for v in free if abs(eq.coeff(v)) == 1), None)
                    if pick is None:
                        if free:
                            raise ValueError(f"cannot solve the index of {occ} in {c.name}")
                        # a fixed index (the loss only at t = T): 1[t = T] · the entry at t
                        fixed = target + eq
                        body = body.xreplace({fixed: target}) * sp.KroneckerDelta(target, fixed)
                        continue
                    value = sp.solve(eq, pick)[0]
                    solved = {k: v.xreplace({pick: value}) for k, v in solved.items()}
                    solved[pick] = value
                body = body.xreplace(solved)
                rest = [(v, lo.xreplace(solved), hi.xreplace(solved))
                        for v, lo, hi in variables if v not in solved]
                out.append(sp.Sum(body, *rest) if rest else body)
        return out

    def _textbook_rules(self) -> Callable[[sp.Expr], sp.Expr]:
        rules = []
        for q in self.quantities.values():
            if q.expr is None or q is self.loss or not q.indices and isinstance(q.expr, sp.Add):
                continue
            if isinstance(q.expr, sp.Function | sp.Mul | sp.Pow) and not q.expr.has(sp.Sum):
                wild = {i: sp.Wild(f"w_{i.name}") for i in q.indices}
                rules.append((q.expr.xreplace(wild), q.at(*wild.values())))

        # σ = √(v + ε) also names (v + ε)^(−1/2), (v + ε)^(3/2), …: any integer power of it
        powers = []
        for q in self.quantities.values():
            if isinstance(q.expr, sp.Pow) and q is not self.loss:
                wild = {i: sp.Wild(f"w_{i.name}") for i in q.indices}
                powers.append((q.expr.base.xreplace(wild), q.expr.exp, q, list(wild.values())))

        def power_of(e, base, exp):
            if not isinstance(e, sp.Pow) or not (e.exp / exp).is_integer:
                return None
            return e.base.match(base) if base.has(sp.Wild) else ({} if e.base == base else None)

        def apply(expr: sp.Expr) -> sp.Expr:
            for pattern, name in rules:
                expr = expr.replace(pattern, name)
            for base, exp, q, wilds in powers:
                expr = expr.replace(
                    lambda e, b=base, x=exp: power_of(e, b, x) is not None,
                    lambda e, b=base, x=exp, q=q, w=wilds: q.at(*[
                        power_of(e, b, x)[v] for v in w]) ** (e.exp / x))
            return expr
        return apply

    def _ratios(self, expr: sp.Expr) -> sp.Expr:
        """Where q = P/B (α_j = e_j/Z, x̂_j = c_j/σ), write P as q·B, so that B cancels."""
        for q in self.quantities.values():
            if not isinstance(q.expr, sp.Mul):
                continue
            entries = [f for f in q.expr.args if isinstance(f, sp.Indexed | sp.Symbol)
                       and f.free_symbols >= set(q.indices)]
            if len(entries) != 1 or not isinstance(entries[0], sp.Indexed):
                continue
            top = entries[0]
            if tuple(top.indices) != tuple(q.indices):
                continue
            rest = q.expr / top
            expr = expr.replace(
                lambda e, b=top.base: isinstance(e, sp.Indexed) and e.base == b,
                lambda e, q=q, rest=rest: q.at(*e.indices) / rest.xreplace(
                    dict(zip(q.indices, e.indices, strict=True))))
        return expr

    # -- the δs as printed: unnamed δs substituted ------------------------------------------------
    def _substituted(self, expr: sp.Expr) -> sp.Expr:
        for _ in range(len(self.quantities) + 1):
            hit = False
            for name, base in self.delta_base.items():
                if name in self.named or name not in self.deltas:
                    continue
                q = self.quantities[name]
                if q.indices:
                    def repl(e, q=q, name=name):
                        return self.deltas[name].xreplace(dict(zip(q.indices, e.indices,
                                                                   strict=True)))
                    new = expr.replace(lambda e, b=base: isinstance(e, sp.Indexed) and
                                       e.base == b, repl)
                else:
                    new = expr.xreplace({sp.Symbol(f"delta_{name}"): self.deltas[name]})
                if new != expr:
                    hit, expr = True, new
            if not hit:
                break
        return self._tidy(expr)

    def _tidy(self, expr: sp.Expr) -> sp.Expr:
        expr = self._ratios(self._textbook(expr))
        expr = self._facts(self._textbook(expr))
        expr = into_sums(expr)
        expr = sp.Add(*[shorter(merge_sum(t)) for t in sp.Add.make_args(expr)])
        if not expr.has(sp.Sum):
            expr = shorter(expr)
        return rename_bound(expr)

    def delta(self, name: str) -> sp.Expr:
        """∂L/∂name[I] in named δs and forward quantities (a recursion for a named δ)."""
        return self._substituted(self.deltas[name])

    # -- equations -----------------------------------------------------------------------------------
    def equations(self) -> list[GeneralEquation]:
        """Forward definitions, then the named δs, then ∂L/∂ of every parameter (and input)."""
        if self._equations is None:  # derived once: every equation is a few SymPy passes
            self._equations = self._derive_equations()
        return list(self._equations)

    def _derive_equations(self) -> list[GeneralEquation]:
        p = self.printer
        eqs = [GeneralEquation("forward", q.name, q.entry, q.expr, p)
               for q in self.quantities.values() if q.expr is not None]
        for name in self.named:
            q = self.quantities[name]
            eqs.append(GeneralEquation("delta", name, self._delta_at(name, q.indices),
                                       self.delta(name), p))
        for q in self.quantities.values():
            if q.kind == "parameter" or q.name in self.input_gradients:
                lhs = sp.Derivative(self.loss.base, q.entry)
                eqs.append(GeneralEquation("gradient", q.name, lhs, self.delta(q.name), p))
        return eqs

    def equation(self, kind: str, name: str) -> GeneralEquation:
        for eq in self.equations():
            if eq.kind == kind and eq.name == name:
                return eq
        raise KeyError(f"no {kind} equation for {name!r} in {self.title}")

    def verify(self) -> float:
        """:meth:`check` at each of the form's small check sizes (once); the largest error."""
        worst = max((self.check(sizes).max_error for sizes in self.check_sizes), default=0.0)
        self._verified = True
        return worst

    def assumption_latex(self) -> list[str]:
        """What the derivation assumes, as LaTeX (``\\sum_{k=1}^{n_y} y_{t,k} = 1``)."""
        return [f"{self.printer.doprint(a.lhs)} = {self.printer.doprint(a.rhs)}"
                for a in self.assumptions]

    def latex(self) -> list[str]:
        """Every equation as a line of LaTeX (forward, named δs, gradients), verified first
        against the scalar derivation at the form's check sizes."""
        if not self._verified:
            self.verify()
        return [eq.latex() for eq in self.equations()]

    def require(self, sizes: Mapping[str, int]) -> None:
        """Refuse sizes that miss one of the form's sizes or name one it does not have."""
        missing, unknown = set(self.sizes) - set(sizes), set(sizes) - set(self.sizes)
        if missing or unknown:
            raise ValueError(f"{self.title} takes the sizes {', '.join(sorted(self.sizes))}; "
                             + "; ".join(f"{what}: {', '.join(sorted(names))}" for what, names
                                         in (("missing", missing), ("unknown", unknown))
                                         if names))
        for name, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"the size {name} must be a positive integer, got {value!r}")

    def evaluator(self, sizes: Mapping[str, int] | None = None, backend: str = "numpy"):
        """A batched evaluator generated from these equations at ``sizes`` (backend numpy,
        torch or jax; jax runs jit-compiled, one program per batch size, in float64)."""
        self.require(sizes or {})
        return BatchedEvaluator(self, sizes, backend)

    def scalar_model(self, sizes: Mapping[str, int] | None = None):
        """The scalar model the builder makes at ``sizes`` (by default the first check sizes)."""
        return self.instance(sizes if sizes is not None else self.check_sizes[0])[0]

    def instance(self, sizes: Mapping[str, int]) -> tuple[object, Callable]:
        """The scalar model at ``sizes`` and the map from (quantity name, indices) to its
        symbol (None where the model has none: padding, h_0)."""
        self.require(sizes)
        return self._build(sizes)

    # -- the check against the scalar derivation ---------------------------------------------------
    def check(self, sizes: Mapping[str, int] | None = None, *, seed: int = 0) -> GeneralCheck:
        """Instantiate ``sizes`` (by default the form's first check sizes), evaluate every
        equation (the forward definitions too) entry by entry, and compare with the scalar
        derivation of the same model: a report with each equation's largest error. An entry
        that disagrees raises CheckError naming it."""
        if sizes is None and self.check_sizes:
            sizes = self.check_sizes[0]
        graph, symbol_of = self.instance(sizes or {})
        rng = np.random.default_rng(seed)
        values = {s.name: float(rng.uniform(-0.9, 0.9)) for s in graph.leaves}
        for group in graph.one_hot_groups:  # targets the model declares one-hot are one-hot
            hot = int(rng.integers(len(group)))
            values.update({s.name: float(n == hot) for n, s in enumerate(group)})
        known, scalar_deltas = scalar_numbers(derive(graph), values)
        size_subs = {self.sizes[k]: v for k, v in sizes.items()}
        rows = []

        def entry(name: str, ix: tuple) -> float:
            stem = name[6:] if name.startswith("delta_") else name
            s = symbol_of(stem, ix)
            if s is None:
                return 0.0 if name.startswith("delta_") else defined(stem, ix)
            return (scalar_deltas if name.startswith("delta_") else known).get(s.name, 0.0)

        def number(expr) -> float:
            # Sums run in Python over their integer bounds: SymPy's doit() built each unrolled
            # sum symbolically first, most of a check's time.
            return _numeric(expr.xreplace(size_subs), {}, entry)

        def defined(name: str, ix: tuple) -> float:
            """A forward quantity the scalar model does not name: from its definition inside
            its range, zero outside (h_0 = 0, zero padding)."""
            q = self.quantities[name]
            for i, (lo, hi) in zip(ix, q.ranges, strict=True):
                if not int(as_basic(lo).xreplace(size_subs)) <= i <= int(
                        as_basic(hi).xreplace(size_subs)):
                    return 0.0
            if q.expr is None:
                return 0.0
            return number(q.expr.xreplace(dict(zip(q.indices, ix, strict=True))))

        for eq in self.equations():
            q = self.quantities[eq.name]
            ranges = [(int(as_basic(lo).xreplace(size_subs)),
                       int(as_basic(hi).xreplace(size_subs)))
                      for lo, hi in q.ranges]
            worst = 0.0
            for ix in np.ndindex(*[hi - lo + 1 for lo, hi in ranges]):
                point = tuple(lo + k for (lo, _), k in zip(ranges, ix, strict=True))
                s = graph.loss_symbol if q is self.loss else symbol_of(q.name, point)
                if s is None:
                    continue
                if eq.kind == "forward":  # the printed definitions are the builder's too
                    expected = known[s.name]
                else:
                    expected = scalar_deltas.get(s.name, 0.0)
                got = number(eq.rhs.xreplace(dict(zip(q.indices, point, strict=True))))
                err = abs(got - expected) / max(1.0, abs(expected))
                if not err < 1e-9:
                    raise CheckError(f"{self.title}: {eq.kind} {q.name}{list(point)}: "
                                         f"general form gives {got}, the scalar derivation "
                                         f"{expected}")
                worst = max(worst, err)
            rows.append(GeneralCheckRow(eq.kind, eq.name, worst, True))
        return GeneralCheck(tuple(rows), dict(sizes), 1e-9)


_MATH = {sp.tanh: math.tanh, sp.exp: math.exp, sp.log: math.log, sp.cosh: math.cosh}


def _numeric(expr: sp.Expr, bound: dict[sp.Symbol, int],
             entry: Callable[[str, tuple], float]) -> float:
    """``expr`` at integer sizes as a float: Σ by iteration with ``bound`` indices, an entry
    ``name[ix]`` (or a scalar ``name``) from ``entry``.

    >>> i, n = sp.symbols("i n", integer=True)
    >>> x = sp.IndexedBase("x")
    >>> _numeric(sp.Sum(2 * x[i], (i, 1, 3)), {}, lambda name, ix: float(ix[0]))
    12.0
    """
    if expr.is_Number or isinstance(expr, sp.NumberSymbol):
        return float(expr)
    if isinstance(expr, sp.Symbol):
        return float(bound[expr]) if expr in bound else entry(expr.name, ())
    if isinstance(expr, sp.Indexed):
        ix = tuple(int(_numeric(i, bound, entry)) for i in expr.indices)
        return entry(expr.base.name, ix)
    if isinstance(expr, sp.Add):
        return math.fsum(_numeric(a, bound, entry) for a in expr.args)
    if isinstance(expr, sp.Mul):
        out = 1.0
        for a in expr.args:
            out *= _numeric(a, bound, entry)
        return out
    if isinstance(expr, sp.Pow):
        return _numeric(expr.base, bound, entry) ** _numeric(expr.exp, bound, entry)
    if isinstance(expr, sp.Sum):
        (v, lo, hi), *rest = expr.limits
        inner = sp.Sum(expr.function, *rest) if rest else expr.function
        start, stop = int(_numeric(lo, bound, entry)), int(_numeric(hi, bound, entry))
        return math.fsum(_numeric(inner, {**bound, v: k}, entry)
                         for k in range(start, stop + 1))
    if isinstance(expr, sp.KroneckerDelta):
        a, b = (_numeric(x, bound, entry) for x in expr.args)
        return float(a == b)
    args = [_numeric(a, bound, entry) for a in expr.args]
    if expr.func in _MATH:
        return _MATH[expr.func](*args)
    return float(expr.func(*[sp.Float(a) for a in args]))
