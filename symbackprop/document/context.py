"""What every section of the notes shares, made once per document: :class:`DocumentContext`.

The context holds the derivation and its graph, the worked example, the TeX printer, the
verifier's Meaning, the options, the focus of a model's notes, the count of equations checked
by each method and the numbers the worked example has carried so far. Its operations are the
ones more than one section needs: an equation verified as it is made, an equation in numbers,
which parameters' chains are written out, the textbook's order of terms.

>>> import symbackprop as sb
>>> from symbackprop.document.options import DocumentOptions
>>> ctx = DocumentContext(sb.derive(sb.mlp([4, 4, 4, 1])), None, DocumentOptions())
>>> [p.name for p in ctx.shown_parameters]  # of 36: one weight a layer, the output's first
['w33', 'w17', 'w1']
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from ..builders.base import Model
from ..builders.mlp import MLP
from ..check.verify import Meaning, VerificationError, elementary, verify
from ..check.worked import WorkedExample, precise_at, require_finite
from ..codegen.scalar import number as compiled_number
from ..codegen.stable import stable_loss
from ..core.errors import ValuesError
from ..core.graph import Graph
from ..derivation.reverse import Derivation
from ..printing.latex import Tex, TexPrinter
from .drawings import Scene
from .focus import Focus
from .formulas import MAX_LINE, broken
from .layout import RELATION, ROW_LIMIT, width
from .model import Equation, Paragraph, Section, Step
from .options import DocumentOptions
from .tikz import network_scene

__all__ = ["DocumentContext", "SMALL_NET", "MAX_SHOWN_FACTORS", "weaker_check", "values_agree",
           "number"]

#: Up to this many parameters (seed 000's net has 6) every chain is written out by default.
SMALL_NET = 9
#: A chain with a path of more factors than this is shown in δ form only, and a δ with one
#: is not written in node symbols: a five-layer MLP's first weight has 11 (the gallery's
#: longest, a network of blocks, 7). Writing every layer's chain out made a deep net's notes
#: quadratic in its depth, and no one reads a product of 100 factors.
MAX_SHOWN_FACTORS = 12

# A negative number alone as a function's argument needs no brackets of its own: σ(−0.13),
# softmax(−0.16, 0.23), not σ((−0.13)); within a product or a power it keeps them.
_ARGUMENT_PARENS = re.compile(
    r"(\\left\(|, )\\left\((-[0-9.]+)\\right\)(?=\s*(?:, |\\right\)))")

#: How equations are checked, strongest first (a chain is as strong as its weakest step).
_STRENGTH = ("identical", "symbolic", "numeric")


def weaker_check(a: str, b: str) -> str:
    """The weaker of two checks (``identical``, ``symbolic``, ``numeric``).

    >>> weaker_check("identical", "numeric")
    'numeric'
    """
    return _STRENGTH[max(_STRENGTH.index(a), _STRENGTH.index(b))]


def number(expr: sp.Expr, known: dict) -> float:
    """``expr`` at ``known`` (symbol -> number), as codegen's ``number`` computes it, but
    compiled once per shape: the symbols are renamed in their own order before compiling.

    A worked example's lines repeat a few shapes (every step of an RNN computes a_t, h_t and
    δ_t alike), and compiling each line on its own was most of a 64-step RNN's notes. The
    renaming keeps the symbols' order (and classes), so SymPy orders every sum and product as before and the
    compiled code does the same float operations: the same number, to the bit.

    >>> x, y = sp.symbols("x y")
    >>> number(x * y + 1, {x: 2.0, y: 3.0}), number(y * x + 1, {x: 0.5, y: 4.0})
    (7.0, 3.0)
    """
    symbols = sorted(expr.free_symbols, key=sp.default_sort_key) if isinstance(
        expr, sp.Basic) else []
    if not symbols or any(isinstance(s, sp.Dummy | sp.Wild) for s in symbols):
        return compiled_number(expr, known)
    digits = len(str(len(symbols)))
    # each symbol's own class (a δ's is its own) and assumptions: SymPy orders by both
    plain = {s: type(s)(f"n{k:0{digits}d}", **s.assumptions0) for k, s in enumerate(symbols)}
    return compiled_number(expr.xreplace(plain), {plain[s]: known[s] for s in symbols})


def values_agree(a: float, b: float, digits: int | None = None, by_hand: bool = False) -> bool:
    """Whether two numbers agree: to rounding error, or (``by_hand``) to what rounding each
    step to ``digits`` digits can move a result.

    >>> values_agree(0.1 + 0.2, 0.3), values_agree(0.301, 0.3, digits=3, by_hand=True)
    (True, True)
    >>> values_agree(math.inf, math.inf), values_agree(math.inf, -math.inf)
    (True, False)
    """
    if math.isinf(a) or math.isinf(b):  # an overflow agrees only with one of the same sign
        return a == b
    if by_hand and digits is not None:
        return abs(a - b) <= 10 * 10.0 ** (-digits) * max(1.0, abs(b))
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


@dataclass
class DocumentContext:
    """One document's shared ground (see the module's docstring); sections read it, and add
    to its counts of checked equations and its known numbers."""

    derivation: Derivation
    example: WorkedExample | None
    options: DocumentOptions
    graph: Graph = field(init=False)
    tex: TexPrinter = field(init=False)
    meaning: Meaning = field(init=False)
    #: The graph when it is an MLP (its layers and notation shape the sections), else None.
    mlp: MLP | None = field(init=False)
    #: A model's representatives (None: every equation is written out: an MLP, a plain
    #: graph, or ``full`` or ``only`` asked for).
    focus: Focus | None = field(init=False)
    #: How many equations each method (one of METHODS) has checked.
    methods: dict[str, int] = field(default_factory=dict)
    #: Numbers the worked example has computed beyond the nodes (the δs), by symbol name.
    known: dict[str, float] = field(default_factory=dict)
    #: The symbols the worked example's lines have defined so far (the leaves are given).
    defined: set[sp.Symbol] = field(default_factory=set)

    def __post_init__(self) -> None:
        d, options = self.derivation, self.options
        self.graph = d.graph
        self.tex = TexPrinter(d)
        if self.example is not None:  # ∞ or nan for a number is no example to print
            require_finite(self.example)
        self.meaning = Meaning(d, values=self.example.values if self.example else None)
        self.mlp = self.graph if isinstance(self.graph, MLP) else None
        focused = not (options.full or options.only is not None)
        self.focus = Focus(self.graph) if focused and isinstance(self.graph, Model) else None

    def count(self, method: str, n: int = 1) -> None:
        """Record that ``n`` equations were checked by ``method`` (one of METHODS)."""
        self.methods[method] = self.methods.get(method, 0) + n

    # -- equations, each verified as it is made ----------------------------------------------
    def equation(self, label: str, lhs: sp.Expr, *rhs: sp.Expr | tuple[sp.Expr, Tex],
                 lhs_tex: Tex | None = None) -> Equation:
        """lhs = rhs1 = rhs2 …; each rhs is an expression, or (expression, how to print it)."""
        steps, method = [], "identical"
        for r in rhs:
            expr, printed = r if isinstance(r, tuple) else (r, None)
            check = verify(lhs, expr, label, self.meaning)
            method = weaker_check(method, check.method)
            lines = printed if isinstance(printed, list) else [printed or self.tex(expr)]
            steps.append(Step(lines))
        self.count(method)
        return Equation(label, lhs_tex or self.tex(lhs), steps, method)

    def numbers(self, label: str, lhs: Tex, symbolic: sp.Expr, value: float,
                defines: sp.Symbol | None = None) -> Equation:
        """symbolic form = numbers substituted = result, checked against the carried values.

        Every symbol of ``symbolic`` must be given (a leaf) or defined by an earlier line
        (``defines``: the node or δ this line computes), else VerificationError names it: a
        worked example prints no number that no line above it computes.
        """
        ex = self.example
        self.require_defined(symbolic, label)
        # A given 0 (a one-hot target) is 0, not −0.000 after a minus sign.
        shown = {s: "0" if s in self._given and self.value(s) == 0 else ex.show(self.value(s))
                 for s in symbolic.free_symbols}
        # One printer for every line, given this line's numbers as the names of its symbols
        # (a printer per line spelled all of a deep net's symbols each time: quadratic).
        printer = self._numbers_printer
        printer.names = {s: (rf"\left({v}\right)" if v.startswith("-") else v)
                         for s, v in shown.items()}
        full = number(symbolic, {s: self.value(s) for s in symbolic.free_symbols})
        if ex.rounding == "display" and not values_agree(full, value):
            # floats that disagree may only have lost the digits: 1 − ŷ of a saturated output
            # is 0 or a few ulps, and log(1 − ŷ) then nan or far off; judge by the precise
            # number where there is one
            better = self.precise(symbolic)
            full = better if math.isfinite(better) or not math.isfinite(full) else full
            if not math.isfinite(full) and full != value:
                # its right side is a number neither in floats nor in digits (a ratio 0/0 of
                # a softmax saturated past exp's bound): nothing refutes it, nothing confirms it
                raise ValuesError(f"equation {label!r} cannot be checked at these values: "
                                  f"its right side is not a number in floats or in 50 digits "
                                  f"(its value is {value!r})")
            if math.isnan(value):  # the evaluator's float64 lost it (∞ · 0 on the way)
                raise ValuesError(f"at these values the number of {label!r} is not defined in "
                                  f"float64 (an overflow on the way), where its equation gives "
                                  f"{full!r}; give values where every number is finite")
            if not values_agree(full, value):
                raise VerificationError(
                    f"equation {label!r} does not hold: {symbolic} = {full!r}, not {value!r}")
        from_shown = number(symbolic, {s: float(v) for s, v in shown.items()})
        relation = "=" if ex.show(from_shown) == ex.show(value) else r"\approx"
        self.count("numbers")
        # A model's long sums (∂L/∂U_11 over 16 steps) are broken across lines, in graph order;
        # otherwise Σ w x first and the bias last, as the forward pass prints it.
        # The numbers decide too: eight products with signed factors print twice as wide as
        # their symbols (a head over two channels' features ran 270 pt past the margin).
        # (any model's: its answer key writes every equation out, with no focus)
        long_symbols = (self.focus is not None and isinstance(symbolic, sp.Add)
                        and len(self.tex(symbolic)) > MAX_LINE)
        long = long_symbols or isinstance(self.graph, Model) and isinstance(symbolic, sp.Add) and (
            width(printer(symbolic)) > ROW_LIMIT - width(lhs) - RELATION)
        terms = None
        if long_symbols:
            terms = self.in_order(symbolic)
        elif isinstance(symbolic, sp.Add):
            terms = self.textbook_terms(symbolic)

        def substituted(text: str) -> str:
            return _ARGUMENT_PARENS.sub(r"\1\2", text)

        if long:
            steps = [Step(broken([self.tex(a) for a in terms], self.tex))]
        elif terms:
            steps = [Step([self.tex.terms(self.tex(a) for a in terms)])]
        else:
            steps = [Step([self.tex(symbolic)])]
        # A product of many signed factors has no place to break a line: where its numbers
        # would run past the margin (a norm's δ over a batch: 1,000 pt), the line gives the
        # formula and its value, every factor's value being shown on the lines above.
        unbreakable = not long and not terms and (
            width(printer(symbolic)) > ROW_LIMIT - width(lhs) - RELATION)
        if symbolic.free_symbols and not isinstance(symbolic, sp.Symbol) and not unbreakable:
            if long:
                steps.append(Step(broken([substituted(printer(a)) for a in terms], self.tex)))
            elif terms:
                steps.append(Step([Tex(substituted(printer.terms(printer(a) for a in terms)))]))
            else:
                steps.append(Step([Tex(substituted(printer(symbolic)))]))
        steps.append(Step([Tex(ex.show(value))], relation))
        if defines is not None:
            self.defined.add(defines)
        return Equation(label, lhs, steps, "numbers")

    def require_defined(self, expr: sp.Expr, label: str) -> None:
        """Refuse (VerificationError, naming it) a symbol of ``expr`` that is neither given nor
        defined by an earlier line of the worked example."""
        given = self.__dict__.get("_given")
        if given is None:
            given = self._given = frozenset(self.graph.leaves)
        missing = sorted((s for s in expr.free_symbols
                          if s not in given and s not in self.defined), key=sp.default_sort_key)
        if missing:
            raise VerificationError(
                f"equation {label!r} uses {missing[0]}, which no earlier line of the worked "
                f"example defines")

    @cached_property
    def evaluated(self):
        """The evaluator's nodes, δs and gradients at the worked example's values, computed
        once (once per parameter was quadratic in a deep net's size)."""
        return self.derivation.evaluate(self.example.values)

    @cached_property
    def _numbers_printer(self) -> TexPrinter:
        return TexPrinter(self.derivation, mul_symbol="dot")

    @cached_property
    def _precise_cache(self) -> dict:
        return {}  # the nodes in 50 (and more) digits, made once per document when needed

    def precise(self, expr: sp.Expr) -> float:
        """``expr`` at the worked example's numbers where floats give no finite answer: first
        with every log of a probability from its logits, as the evaluator computes it (log(1 −
        ŷ) = −softplus(z), finite however far σ saturates), then with every node recomputed
        from the leaves in 50 digits (more where those round the answer away). nan where
        neither gives a real number."""
        stable = stable_loss(self.graph, expr)
        if stable != expr:
            x = number(stable, {s: self.value(s) for s in stable.free_symbols})
            if math.isfinite(x):
                return x
        g, values = self.graph, self.example.values
        nodes = set(g.symbols)
        extra = {s: self.value(s) for s in expr.free_symbols if s not in nodes}
        z = precise_at(g, {s: values[s.name] for s in g.leaves}, expr, extra,
                       self._precise_cache)
        return z.real if z is not None and z.imag == 0 else math.nan

    def value(self, s: sp.Symbol) -> float:
        """The worked example's number for ``s`` (a leaf, a node, or a δ carried so far)."""
        ex = self.example
        for table in (ex.nodes, ex.values, self.known):
            if s.name in table:
                return table[s.name]
        # A δ the gradient's δ form uses but the section of named δs does not list (an RNN's
        # δ of a_t, where its textbook names δ_t on h_t): the engine's own number.
        node = next((v for v, sym in self.derivation.delta_symbols.items() if sym == s), None)
        if node is not None and node.name in ex.deltas:
            return ex.deltas[node.name]
        return math.nan

    # -- what a model's focus leaves to its general form ----------------------------------------
    def shows(self, v: sp.Symbol) -> bool:
        """Whether the unrolled instance writes ``v`` (a node; leaves always appear)."""
        return self.focus is None or v not in self.focus.hidden

    def rest(self, section: Section, left_out: int) -> None:
        """Say, where representatives stand for the rest, how many the general form covers."""
        if left_out:
            section.blocks.append(Paragraph("focus_rest", {"count": left_out}))

    @cached_property
    def _graph_order(self) -> dict[sp.Symbol, int]:
        order = {s: k for k, s in enumerate(self.graph.symbols)}
        order.update({sym: order[v] for v, sym in self.derivation.delta_symbols.items()})
        return order

    def in_order(self, expr: sp.Add) -> list[sp.Expr]:
        """A long sum's terms in the graph's order (step 1, 2, …, 16), not SymPy's (1, 10, 11,
        …): by the latest node each term uses, a δ standing for its node."""
        order = self._graph_order
        return sorted(expr.args, key=lambda term: max(
            (order.get(s, -1) for s in term.free_symbols), default=-1))

    # -- the textbook's ways of writing ---------------------------------------------------------
    def textbook_terms(self, expr: sp.Add) -> list[sp.Expr]:
        """Σ w x in the order of the inputs first, a lone bias last (− b for a threshold)."""
        order = {p: k for k, p in enumerate(self.graph.parameters)}
        nodes = {v: k for k, v in enumerate(self.graph.symbols)}

        def key(term: sp.Expr):
            syms = sorted(term.free_symbols, key=lambda x: nodes.get(x, len(nodes)))
            params = [order[x] for x in syms if x in order]
            lone_parameter = len(syms) == 1 and syms[0] in order
            first = min((nodes.get(x, len(nodes)) for x in syms if x not in order), default=0)
            return (lone_parameter, first, params)

        return sorted(expr.args, key=key)

    def ordered_term(self, term: sp.Expr) -> str:
        """δ first, then the rest: δ_k w_jk as the textbooks write it."""
        deltas = self.delta_symbols
        factors = sp.Mul.make_args(term)
        first = [f for f in factors if f in deltas]
        rest = [f for f in factors if f not in deltas]
        coeff = [f for f in rest if f.is_number]
        rest = [f for f in rest if not f.is_number]
        sign = ""
        if coeff and coeff[0] == -1:
            sign, coeff = "-", []
        return sign + self.tex.product([*coeff, *first, *rest], sep=" ")

    @cached_property
    def delta_symbols(self) -> frozenset[sp.Symbol]:
        """Every δ symbol of the derivation, as a set made once (per term, it was quadratic)."""
        return frozenset(self.derivation.delta_symbols.values())

    @cached_property
    def named_nodes(self) -> frozenset[sp.Symbol]:
        """The nodes whose δ the text names (the graph's ``delta_nodes``), as a set made once."""
        return frozenset(self.graph.delta_nodes)

    def backward_order(self, named: list[sp.Symbol]) -> list[sp.Symbol]:
        """Output layer first, as the sweep goes; within a layer the units in ascending order."""
        if not self.mlp:  # latest first: a δ comes after the δs its recursion uses
            order = self._graph_order
            return sorted(named, key=lambda v: order[v], reverse=True)
        net, wanted = self.mlp, set(named)
        return [net.pre(l, j) for l in range(net.depth, 0, -1)  # noqa: E741
                for j in range(1, net.sizes[l] + 1) if net.pre(l, j) in wanted]

    def as_local(self, expr: sp.Expr) -> sp.Expr:
        """∂L/∂v on an edge or as a chain's factor is L's own partial derivative; Meaning reads
        ∂L/∂v as the total one, which differs where v also reaches L another way (weight decay)."""
        L = self.graph.loss_symbol
        return expr.replace(lambda e: isinstance(e, sp.Derivative) and e.expr == L,
                            lambda e: sp.diff(elementary(self.graph.expr(L)), e.variables[0]))

    # -- which chains are written out, and where they run on the drawing ------------------------
    @cached_property
    def shown_parameters(self) -> tuple[sp.Symbol, ...]:
        """The parameters whose whole chain is written out (``only``; else all for a small
        net; else one representative weight per layer, the first unit's first weight)."""
        g, only = self.graph, self.options.only
        if only is not None:
            return tuple(p for p in g.parameters if p.name in set(only))
        if self.focus is not None:
            return tuple(self.focus.parameters)
        if self.options.full or not self.mlp or len(g.parameters) <= SMALL_NET:
            return tuple(g.parameters)
        net = self.mlp
        return tuple(net.weight(l, 1, 1) for l in range(net.depth, 0, -1))  # noqa: E741

    def chain_factors(self, p: sp.Symbol) -> int:
        """The most factors on one chain-rule path from ``p`` to the loss (0: none reaches
        it), counted for every symbol at once, latest first, without listing a path.

        >>> import symbackprop as sb
        >>> ctx = DocumentContext(sb.derive(sb.mlp([1, 1, 1])), None, DocumentOptions())
        >>> ctx.chain_factors(ctx.graph.parameters[0])  # ∂L/∂ŷ ∂ŷ/∂z₂ ∂z₂/∂h₁ ∂h₁/∂z₁ ∂z₁/∂w₁
        5
        """
        return self._chain_factors.get(p, 0)

    @cached_property
    def _chain_factors(self) -> dict[sp.Symbol, int]:
        d = self.derivation
        most = {d.loss: 0}
        for v in reversed(self.graph.symbols):
            below = [most[c] for c in d.children(v) if c in d.deltas and c in most]
            if below and v != d.loss:
                most[v] = 1 + max(below)
        return most

    @cached_property
    def scene(self) -> Scene:
        """The network's drawing as geometry, laid out once (see network_scene)."""
        return network_scene(self.derivation, self.tex)

    @cached_property
    def drawing(self) -> tuple[Tex, dict]:
        """The network's TikZ drawing and each symbol's node in it (see tikz_network)."""
        return self.scene.tikz(), self.scene.symbols

    def drawn_path(self, factors) -> list[tuple[str, str]]:
        """The drawing's edges that a chain's factors run along (∂c/∂v: from v's node to c's;
        a weight: its own edge). Factors within one drawn node (∂h/∂z) have no edge."""
        at = self.drawing[1]
        edges = []
        for f in factors:
            wrt, of = at.get(f.wrt.name), at.get(f.of.name)
            if isinstance(wrt, tuple):
                edges.append(wrt)
            elif isinstance(wrt, dict):  # a shared weight (RNN, kernel): this use's edges
                edges.extend(wrt.get(f.of.name, ()))
            elif isinstance(wrt, str) and isinstance(of, str) and wrt != of:
                edges.append((wrt, of))
        return list(dict.fromkeys(edges))
