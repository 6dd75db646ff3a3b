"""The scalar evaluator's lines, isomorphic ones evaluated together as one array operation.

A wide layer gives the scalar code thousands of lines that differ only in their symbols: the
64 lines z_j = b_j + Σ_i w_ij·x_i, the 4 096 lines ∂L/∂w_ij = δ_j·a_i. Evaluated one by one,
each is a numpy call on a batch, and the calls, not the arithmetic, are the time. Here lines of
the same depth whose right-hand sides are equal up to a renaming of symbols form one *group*:
their arguments are stacked (rows of an array), the shared expression is evaluated once, and
each line's value is a row of the result. A group of weighted sums (Σ coefficient·operand over
the same operands) is one matrix product. Lines that match nothing stay lines, as they were:
a small net's code is unchanged.

Every group is evaluated by the same printer and namespace as a line (SymPy's lambdify), on
arrays whose first axis is the group's rows and whose other axes are the batch's, so the
numbers are each line's own.

>>> import sympy as sp
>>> x, y = sp.symbols("x y", real=True)
>>> ws = sp.symbols("w1:9", real=True)
>>> lines = [StackLine(sp.Symbol(f"z{k}", real=True), w * x + y, k) for k, w in enumerate(ws)]
>>> program = stack_lines([x, y, *ws], lines, [modules_for_test()])
>>> program.groups
1
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..core import ops
from .rows import STACK_FUNCTIONS, LinearPlan, ProductPlan

__all__ = ["StackLine", "StackedProgram", "stack_lines", "MIN_ROWS", "modules_for_test"]

#: the fewest lines worth a group: below it stacking costs more than the calls it saves, and a
#: small net's code reads line by line, as the documents print it
MIN_ROWS = 8


@dataclass(frozen=True)
class StackLine:
    """One line of the evaluator: ``target = expr``; ``rank`` orders a group's rows (a node's
    or a parameter's place in the graph); ``gradient``: a ∂L/∂p line, which no line reads."""

    target: sp.Symbol
    expr: sp.Expr
    rank: int
    gradient: bool = False


_ROWS, _LINEAR = sp.Function("_rows"), sp.Function("_linear")
_PRODUCTS, _MEAN_PRODUCTS = sp.Function("_products"), sp.Function("_mean_products")
_ROW_MEANS = sp.Function("_row_means")
_ND = sp.Symbol("_nd", integer=True)

# Functions a group may apply to stacked rows: each is elementwise and broadcasts.
_ELEMENTWISE = (sp.exp, sp.log, sp.tanh, sp.sinh, sp.cosh, sp.sin, sp.cos, sp.Abs, sp.sign,
                sp.erf, sp.erfc, sp.Heaviside)
_ELEMENTWISE_NAMES = frozenset({"masked", "log_softmax", "log_softmax_complement",
                                "softmax_ratio", "float64"})


def _elementwise(expr: sp.Expr) -> bool:
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Function):
            if not (isinstance(node, _ELEMENTWISE) or type(node).__name__ in _ELEMENTWISE_NAMES
                    or ops.op_of(type(node)) is not None):
                return False
        elif not isinstance(node, sp.Add | sp.Mul | sp.Pow | sp.Symbol | sp.Number
                            | sp.NumberSymbol | sp.Tuple):
            return False
    return True


_PLACEHOLDERS: list[sp.Symbol] = []


def _placeholder(k: int) -> sp.Symbol:
    while len(_PLACEHOLDERS) <= k:
        _PLACEHOLDERS.append(sp.Symbol(f"_p{len(_PLACEHOLDERS)}", real=True))
    return _PLACEHOLDERS[k]


def _template(expr: sp.Expr) -> tuple[sp.Expr, list[sp.Symbol]] | None:
    """expr with its symbols renamed _p0, _p1, … in the order they first appear, and that order."""
    order: list[sp.Symbol] = []
    seen: set[sp.Symbol] = set()
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Symbol) and node not in seen:
            seen.add(node)
            order.append(node)
    if not order:
        return None
    return expr.xreplace({s: _placeholder(k) for k, s in enumerate(order)}), order


def _linear_terms(expr: sp.Expr, uses, made) -> tuple[list, list] | None:
    """(products, constants) of a weighted sum: products (mult, operand, coefficient) where the
    operand is the factor a line makes (an array on a batch; a leaf may be a number), else the
    one more lines read; constants (mult, symbol). None: not such a sum."""
    if not isinstance(expr, sp.Add):
        return None
    products, constants = [], []
    for term in expr.args:
        mult, rest = term.as_coeff_Mul()
        if not mult.is_Rational and not mult.is_Float:
            return None
        factors = rest.args if isinstance(rest, sp.Mul) else (rest,)
        if not all(isinstance(f, sp.Symbol) for f in factors):
            return None
        if len(factors) == 1:
            constants.append((float(mult), factors[0]))
        elif len(factors) == 2 and factors[0] != factors[1]:
            a, b = factors
            rank_a, rank_b = (a in made, uses[a], a.name), (b in made, uses[b], b.name)
            operand, coef = (a, b) if rank_a > rank_b else (b, a)
            products.append((float(mult), operand, coef))
        else:
            return None
    if not products or len({o for _, o, _ in products}) < len(products):
        return None
    return products, constants


@dataclass
class StackedProgram:
    """The generated function and how its results map back to the lines' targets.

    ``results[k]`` is a target or a group's block; ``where[target] = (k, row)``, row None for
    a line computed alone."""

    function: object
    results: list[sp.Symbol]
    where: dict[sp.Symbol, tuple[int, int | None]]
    groups: int
    #: per result, its group's number of rows (None: a line's own value)
    sizes: list[int | None]
    source_steps: list[tuple[sp.Symbol, sp.Expr]] = field(repr=False, default_factory=list)


def stack_lines(args: Sequence[sp.Symbol], lines: Sequence[StackLine], modules: list,
                *, mean: bool = False, min_rows: int | None = None) -> StackedProgram:
    """One function of ``args`` (then the batch's number of axes) computing every line, its
    isomorphic lines as groups. ``mean``: each gradient group gives its rows' batch means.
    ``modules`` are lambdify's (the evaluator's namespace first)."""
    return _Builder(args, lines, modules, mean, MIN_ROWS if min_rows is None else min_rows).build()


class _Builder:
    def __init__(self, args, lines, modules, mean, min_rows):
        self.args, self.lines, self.mean, self.min_rows = list(args), list(lines), mean, min_rows
        self.modules = modules
        self.namespace: dict[str, object] = {}
        self.steps: list[tuple[sp.Symbol, sp.Expr]] = []
        self.block_of: dict[sp.Symbol, tuple[sp.Symbol, int]] = {}  # target -> (block, row)
        self.unpacked: set[sp.Symbol] = set()
        self.results: list[sp.Symbol] = []
        self.where: dict[sp.Symbol, tuple[int, int | None]] = {}
        self.groups = 0
        self.size: dict[sp.Symbol, int] = {}
        self.slots: dict[tuple, sp.Expr] = {}
        self.arg_position = {a: k for k, a in enumerate(self.args)}

    # -- grouping ----------------------------------------------------------------------------
    def build(self) -> StackedProgram:
        level: dict[sp.Symbol, int] = {}
        uses: collections.Counter = collections.Counter()
        for line in self.lines:
            free = line.expr.free_symbols
            level[line.target] = 1 + max((level.get(s, 0) for s in free), default=0)
            uses.update(free)
        self.made = set(level)
        buckets: dict[tuple, list] = {}
        for line in self.lines:
            key, info = self._key(line, uses)
            buckets.setdefault((level[line.target], line.gradient, key), []).append((line, info))
        for (_lvl, _grad, key), members in sorted(buckets.items(), key=lambda kv: kv[0][0]):
            members.sort(key=lambda m: m[0].rank)
            if key is not None and key[0] == "linear" and self._worth_linear(members):
                self._emit_linear(members)
            elif key is not None and key[0] == "template" and len(members) >= self.min_rows:
                self._emit_template(members, key[1])
            else:
                for line, _ in members:
                    self._emit_single(line)
        return self._compile()

    def _key(self, line: StackLine, uses):
        terms = _linear_terms(line.expr, uses, self.made)
        if terms is not None:
            return ("linear", frozenset(o for _, o, _ in terms[0])), terms
        if line.expr.is_Number or not _elementwise(line.expr):
            return None, None
        found = _template(line.expr)
        if found is None:
            return None, None
        return ("template", found[0]), found[1]

    def _worth_linear(self, members) -> bool:
        operands = len(members[0][1][0])
        return len(members) >= self.min_rows or operands >= 2 * self.min_rows

    # -- slots: a list of symbols as rows -----------------------------------------------------
    def _slot(self, symbols: list[sp.Symbol]) -> sp.Expr:
        """``symbols`` as rows: a group's block, its rows gathered, or the values stacked (once
        per list: a net's inputs are stacked for the first layer and again for its gradients)."""
        key = tuple(symbols)
        found = self.slots.get(key)
        if found is None:
            found = self.slots[key] = self._new_slot(symbols)
        return found

    def _new_slot(self, symbols: list[sp.Symbol]) -> sp.Expr:
        located = [self.block_of.get(s) for s in symbols]
        if all(located) and len({b for b, _ in located}) == 1:
            block = located[0][0]
            rows = [r for _, r in located]
            if rows == list(range(self.size[block])):
                return block
            index = self._constant("_i", np.array(rows, dtype=np.intp))
            return sp.Indexed(sp.IndexedBase(block.name), index)
        self._by_name(symbols)
        name = sp.Symbol(f"_s{len(self.steps)}", real=True)
        self.steps.append((name, _ROWS(_ND, *symbols)))
        return name

    def _by_name(self, symbols) -> None:
        """Each of ``symbols`` that is a group's row gets its name, once, before it is read."""
        for s in symbols:
            found = self.block_of.get(s)
            if found is not None and s not in self.unpacked:
                self.unpacked.add(s)
                self.steps.append((s, sp.Indexed(sp.IndexedBase(found[0].name), found[1])))

    def _place(self, s: sp.Symbol) -> tuple:
        """Where s is: a group's row (by group, then row) or an argument (by position)."""
        found = self.block_of.get(s)
        if found is not None:
            return (0, found[0].name, found[1])
        return (1, "", self.arg_position.get(s, len(self.arg_position)))

    def _stacked(self, symbols: list[sp.Symbol]) -> sp.Symbol:
        """A name for the rows of ``symbols`` (a group's block itself where it is one)."""
        slot = self._slot(symbols)
        if isinstance(slot, sp.Symbol):
            return slot
        name = sp.Symbol(f"_s{len(self.steps)}", real=True)
        self.steps.append((name, slot))
        self.slots[tuple(symbols)] = name
        return name

    def _constant(self, prefix: str, value) -> sp.Symbol:
        name = f"{prefix}{len(self.namespace)}"
        self.namespace[name] = value
        return sp.Symbol(name)

    def _new_block(self, targets: list[sp.Symbol], expr: sp.Expr) -> sp.Symbol:
        block = sp.Symbol(f"_g{self.groups}", real=True)
        self.groups += 1
        self.steps.append((block, expr))
        self.size[block] = len(targets)
        k = len(self.results)
        self.results.append(block)
        for r, t in enumerate(targets):
            self.block_of[t] = (block, r)
            self.where[t] = (k, r)
        return block

    # -- emitting ------------------------------------------------------------------------------
    def _emit_single(self, line: StackLine) -> None:
        self._by_name(sorted(line.expr.free_symbols, key=lambda s: s.name))
        self.steps.append((line.target, line.expr))
        self.where[line.target] = (len(self.results), None)
        self.results.append(line.target)

    def _emit_linear(self, members) -> None:
        operands: list[sp.Symbol] = []
        column: dict[sp.Symbol, int] = {}
        for _, (products, _) in members:
            for _, o, _ in products:
                if o not in column:
                    column[o] = -1
                    operands.append(o)
        operands.sort(key=self._place)
        column = {o: k for k, o in enumerate(operands)}
        rows, cols, mult, coefs, crow, cmult, consts = [], [], [], [], [], [], []
        for r, (_, (products, constants)) in enumerate(members):
            for m, o, c in products:
                rows.append(r)
                cols.append(column[o])
                mult.append(m)
                coefs.append(c)
            for m, s in constants:
                crow.append(r)
                cmult.append(m)
                consts.append(s)
        plan = LinearPlan(len(members), len(operands), np.array(rows, dtype=np.intp),
                           np.array(cols, dtype=np.intp), np.array(mult),
                           np.array(crow, dtype=np.intp), np.array(cmult))
        plan_symbol = self._constant("_plan", plan)
        operands_slot = self._slot(operands)
        self._by_name([*coefs, *consts])
        expr = _LINEAR(_ND, plan_symbol, operands_slot, *coefs, *consts)
        gradient = members[0][0].gradient
        if gradient and self.mean:
            expr = _ROW_MEANS(expr)
        self._new_block([line.target for line, _ in members], expr)

    def _emit_template(self, members, template: sp.Expr) -> None:
        slots = []
        for k in range(len(members[0][1])):
            symbols = [order[k] for _, order in members]
            slots.append(symbols)
        stacked = [k for k, symbols in enumerate(slots) if len(set(symbols)) > 1]
        if not stacked:  # every line the same: each alone
            for line, _ in members:
                self._emit_single(line)
            return
        gradient = members[0][0].gradient
        product = self._product_of_two(template, len(slots))
        if product is not None and gradient:
            expr = self._products(product, slots)
        else:
            self._by_name([symbols[0] for k, symbols in enumerate(slots) if k not in stacked])
            fill = {_placeholder(k): (self._stacked(symbols) if k in stacked else symbols[0])
                    for k, symbols in enumerate(slots)}
            expr = template.xreplace(fill)
            if gradient and self.mean:
                expr = _ROW_MEANS(expr)
        self._new_block([line.target for line, _ in members], expr)

    @staticmethod
    def _product_of_two(template: sp.Expr, n_slots: int):
        """mult where the template is mult·_p0·_p1, else None."""
        if n_slots != 2 or not isinstance(template, sp.Mul):
            return None
        mult, rest = template.as_coeff_Mul()
        if rest != _placeholder(0) * _placeholder(1) or not (mult.is_Rational or mult.is_Float):
            return None
        return float(mult)

    def _products(self, mult: float, slots) -> sp.Expr:
        a_syms, b_syms = slots
        ua, ub = _distinct(a_syms), _distinct(b_syms)
        ia = _positions(ua, a_syms)
        ib = _positions(ub, b_syms)
        grid = len(a_syms) == len(ua) * len(ub) and np.array_equal(
            ib, np.repeat(np.arange(len(ub)), len(ua))) and np.array_equal(
            ia, np.tile(np.arange(len(ua)), len(ub)))
        worth = len(ua) * len(ub) <= 4 * len(a_syms)
        plan = ProductPlan(ia, ib, mult, grid)
        plan_symbol = self._constant("_plan", plan)
        if self.mean and worth:
            return _MEAN_PRODUCTS(plan_symbol, self._slot(ua), self._slot(ub))
        if self.mean:
            return _ROW_MEANS(_PRODUCTS(plan_symbol, self._slot(ua), self._slot(ub)))
        return _PRODUCTS(plan_symbol, self._slot(ua), self._slot(ub))

    # -- compiling -----------------------------------------------------------------------------
    def _compile(self) -> StackedProgram:
        modules = [{**STACK_FUNCTIONS, **self.namespace}, *self.modules]
        steps, results = self.steps, list(self.results)
        fn = sp.lambdify([*self.args, _ND], results, modules=modules,
                         cse=lambda _exprs: (steps, results), docstring_limit=0)
        sizes = [self.size.get(r) for r in results]
        return StackedProgram(fn, results, self.where, self.groups, sizes, steps)


def _distinct(symbols: list[sp.Symbol]) -> list[sp.Symbol]:
    return list(dict.fromkeys(symbols))


def _positions(unique: list[sp.Symbol], symbols: list[sp.Symbol]) -> np.ndarray:
    at = {s: k for k, s in enumerate(unique)}
    return np.array([at[s] for s in symbols], dtype=np.intp)


def modules_for_test() -> dict:
    """A namespace enough for the doctest: numpy's functions by name."""
    return {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "pi": math.pi}
