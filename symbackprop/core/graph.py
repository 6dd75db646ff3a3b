"""A network as a graph of named SymPy symbols.

Leaves are inputs, targets and parameters; every other node has a defining expression in
symbols declared before it, so declaration order is a topological order and a cycle cannot be
built. One node is the scalar loss.

>>> import symbackprop as sb
>>> g = sb.Graph()
>>> x = g.input("x"); w = g.parameter("w"); y = g.target("y")
>>> z = g.node("z", w * x)
>>> a = g.node("a", sb.sigmoid(z))
>>> L = g.loss("L", (y - a) ** 2)
>>> [s.name for s in g.nodes]
['z', 'a', 'L']
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import gc
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum

import sympy as sp
from sympy.core.parameters import global_parameters

from ..printing.display import graph_svg
from .errors import GraphError

try:  # SymPy's own ordering helpers (Basic.compare's parts); plain compare where absent
    from sympy.core.basic import _cmp_name
except ImportError:  # pragma: no cover - older SymPy
    def _cmp_name(x: type, y: type) -> int:
        return 0
_args_sortkey = functools.cmp_to_key(sp.Basic.compare)

__all__ = ["Graph", "Kind", "GraphError", "product", "sum_of_products", "collector_paused"]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector held off while a network is built or derived.

    Building and deriving a wide net allocate a few hundred thousand SymPy objects that all
    stay alive and form no cycles, so each of the collector's passes finds nothing; but the
    oldest generation's passes walk every object alive, and they come more often as the heap
    grows: a third of building and deriving a 128-128-128-1 net (six full passes) went to them.
    Reference counting still frees everything as usual; the collector runs again on leaving
    (it is left off if it was off already).

    >>> import gc
    >>> with collector_paused():
    ...     gc.isenabled()
    False
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def product(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """a·b, the same expression as ``a * b``.

    Two distinct symbols (w·a in a weighted sum, δ·w in a δ recursion: nearly every edge of a
    wide net) skip Mul's flattening, which finds nothing to combine there and costs ten times
    more; building and deriving a 128-128-128-1 net is mostly such products. So does a product
    times a symbol that is none of its factors' bases (a δ value times the next weight: most of
    every δ value of a wide net): the symbol is only sorted in.

    >>> a, b, c = sp.symbols("a b c")
    >>> product(b, a) == a * b, product(-2 * a * c, b) == -2 * a * b * c
    (True, True)
    """
    if isinstance(a, sp.Symbol) and isinstance(b, sp.Mul):
        a, b = b, a
    if isinstance(b, sp.Symbol):
        if isinstance(a, sp.Symbol) and (a.name != b.name or a != b) \
                and _commutes(a) and _commutes(b):
            return sp.Mul._from_args((a, b) if _before(a, b) else (b, a), True)
        if isinstance(a, sp.Mul) and _sorts_in(a, b):
            coeff, factors = (a.args[:1], a.args[1:]) if a.args[0].is_Number else ((), a.args)
            at = bisect.bisect(factors, _args_sortkey(b), key=_args_sortkey)
            return sp.Mul._from_args((*coeff, *factors[:at], b, *factors[at:]), True)
    return a * b


def sum_of_products(terms: list[sp.Expr]) -> sp.Expr:
    """Σ terms, the same expression as ``sp.Add(*terms)``.

    A weighted sum Σ_i w_ij·a_i (a pre-activation) and a δ recursion Σ_j δ_j·w_ij are sums of
    distinct products of two symbols. Add's flattening looks for like terms to combine (there
    are none) and sorts the terms with ``Basic.compare``, one Python call per comparison:
    for such products that order is the order of their two names, which a plain sort finds
    ten times faster. Anything else (a term of another shape, a repeated term, symbols whose
    classes or assumptions differ) is left to Add.

    >>> a, b, c, d = sp.symbols("a b c d")
    >>> sum_of_products([product(c, d), product(a, b)]) == a * b + c * d
    True
    """
    if len(terms) < 3:  # nothing to sort worth the look
        return terms[0] if len(terms) == 1 and isinstance(terms[0], sp.Expr) else sp.Add(*terms)
    shape, pairs, others = None, [], []
    symbol = sp.Symbol
    for t in terms:
        args = t.args if type(t) is sp.Mul else ()
        a, b = args if len(args) == 2 else (None, None)
        if isinstance(a, symbol) and isinstance(b, symbol) and _commutes(a) and _commutes(b):
            # one shape for all: compared, not hashed (the declared symbols share their
            # assumptions, so this is four identity tests)
            this = (type(a), type(b), a._assumptions0, b._assumptions0)
            if shape is None:
                shape = this
            elif this != shape:
                return sp.Add(*terms)
            pairs.append(((a.name, b.name), t))
        elif isinstance(t, symbol) or (a is sp.S.NegativeOne and isinstance(b, symbol)):
            others.append(t)  # a bias, b or −b: sorted in below
        else:
            return sp.Add(*terms)
    pairs.sort(key=lambda kt: kt[0])
    if len(pairs) < 2 or len(others) > 2 or not global_parameters.evaluate \
            or any(k1 == k2 for (k1, _), (k2, _) in zip(pairs, pairs[1:], strict=False)) \
            or len({(o.args[1] if o.is_Mul else o) for o in others}) < len(others):
        return sp.Add(*terms)
    out = [t for _, t in pairs]
    for o in others:
        out.insert(bisect.bisect(out, _args_sortkey(o), key=_args_sortkey), o)
    return sp.Add._from_args(out, True)


_CLASS_ORDER: dict[tuple[type, type], int] = {}


def _before(a: sp.Basic, b: sp.Basic) -> bool:
    """a sorts before b in Mul's order (Basic.compare), with the class-name part memoised:
    for δ·w it looks the class names up in a list and raises ValueError, per edge."""
    ta, tb = type(a), type(b)
    if ta is not tb:
        c = _CLASS_ORDER.get((ta, tb))
        if c is None:
            c = _CLASS_ORDER[(ta, tb)] = _cmp_name(ta, tb)
        if c:
            return c < 0
    if isinstance(a, sp.Symbol) and a.name != b.name \
            and len(a._assumptions0) == len(b._assumptions0):
        return a.name < b.name  # compare's first difference: the names (after the lengths)
    return a.compare(b) < 0


def _sorts_in(m: sp.Mul, s: sp.Symbol) -> bool:
    # Mul's flattening would only sort s in: everything commutes, the coefficient (if any) is a
    # plain rational (oo·s depends on s's sign), no other factor is a number (I, zoo, π: kept
    # to Mul) and none is s or a power of s.
    if not (m.is_commutative and _commutes(s)):
        return False
    first = m.args[0]
    if first.is_Number and not first.is_Rational:
        return False
    for f in m.args[1:] if first.is_Number else m.args:
        if f.is_number or f == s or (f.is_Pow and f.base == s):
            return False
    return True


def _real_symbol(name: str) -> sp.Symbol:
    """``sp.Symbol(name, real=True)``, equal to it, made without SymPy's cache: a net's every
    weight is a new name, so the cache only missed and evicted what it held. Its slots are
    copied from one real symbol: SymPy's uncached constructor canonicalised the same
    assumptions again for every weight (6 µs of the 10 it took to make one)."""
    if _REAL_SLOTS is None:  # pragma: no cover - a SymPy whose symbols hold more than slots
        return sp.Symbol(name, real=True)
    return _copied_symbol(name, _REAL_SLOTS)


def _copied_symbol(name: str, slots: tuple[tuple[str, object], ...]) -> sp.Symbol:
    made = sp.Basic.__new__(sp.Symbol)  # an empty atom: no hash yet, no arguments
    made.name = name
    for slot, value in slots:
        setattr(made, slot, value)
    return made


def _real_slots() -> tuple[tuple[str, object], ...] | None:
    """A real symbol's every slot but its name and hash, or None where a symbol copied from them
    would not be the one SymPy makes (then each is made by SymPy)."""
    template = sp.Symbol("_template_", real=True)
    if hasattr(template, "__dict__"):
        return None
    found = tuple((slot, getattr(template, slot)) for cls in type(template).__mro__
                  for slot in cls.__dict__.get("__slots__", ()) if slot not in ("name", "_mhash"))
    made, want = _copied_symbol("_check_", found), sp.Symbol("_check_", real=True)
    same = made == want and hash(made) == hash(want) and sp.srepr(made) == sp.srepr(want) \
        and made.is_real is True and made.assumptions0 == want.assumptions0
    return found if same else None


_REAL_SLOTS = _real_slots()
_REAL_ASSUMPTIONS = _real_symbol("_template_")._assumptions  # real, hence commutative


def _commutes(s: sp.Symbol) -> bool:
    """``s.is_commutative`` for a symbol; every symbol a graph declares shares one assumptions
    table, known to commute, so the question is an identity test (a SymPy property per edge)."""
    return s._assumptions is _REAL_ASSUMPTIONS or bool(s.is_commutative)


def _symbols_of(expr: sp.Expr) -> frozenset:
    """``frozenset(expr.free_symbols)``. A sum's and a product's free symbols are their
    arguments' (SymPy's own rule for both), so a weighted sum Σ w·a is read two levels deep
    without SymPy's recursive walk and its set per term (a tenth of building a wide net).

    >>> a, b, c = sp.symbols("a b c")
    >>> _symbols_of(a * b + sp.sin(c)) == {a, b, c}
    True
    """
    if type(expr) is not sp.Add and type(expr) is not sp.Mul:
        return frozenset(expr.free_symbols)
    found: list[sp.Basic] = []
    for term in expr.args:
        for factor in term.args if type(term) is sp.Mul else (term,):
            if isinstance(factor, sp.Symbol):
                found.append(factor)
            elif not factor.is_Number:
                found.extend(factor.free_symbols)
    return frozenset(found)


# Names are keys (in specs, value mappings, generated code), so they are kept to a small,
# printable alphabet: letters, digits and the index punctuation that notations use.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_^()\[\],.']{0,63}$")


def _as_expr(name: str, expr) -> sp.Expr:
    # Strings are refused on purpose: text is parsed only by spec.py's safe reader.
    if isinstance(expr, sp.Expr):
        return expr
    if isinstance(expr, bool) or not isinstance(expr, int | float):
        raise GraphError(f"the expression of {name!r} must be a SymPy expression or a number")
    return sp.Integer(expr) if isinstance(expr, int) else sp.Float(expr)


class Kind(Enum):
    INPUT = "input"
    TARGET = "target"
    PARAMETER = "parameter"
    NODE = "node"
    LOSS = "loss"


@dataclass
class _Entry:
    symbol: sp.Symbol
    kind: Kind
    expr: sp.Expr | None = None
    latex: str | None = None
    role: str | None = None
    #: the symbols ``expr`` uses, found once: SymPy walks the whole tree on every access
    uses: frozenset = frozenset()
    #: its place in declaration order, so that a node's parents sort without a scan
    order: int = 0


@dataclass
class Graph:
    """Named inputs, targets, parameters, intermediate nodes and one loss.

    ``latex`` spellings are optional; a notation supplies them for the networks it builds.
    """

    title: str = "network"
    _entries: dict[sp.Symbol, _Entry] = field(default_factory=dict, repr=False)
    _by_name: dict[str, sp.Symbol] = field(default_factory=dict, repr=False)
    _loss: sp.Symbol | None = field(default=None, repr=False)
    _sums_to_one: list[tuple[sp.Symbol, ...]] = field(default_factory=list, repr=False)

    def _repr_html_(self) -> str:
        """Jupyter draws the graph: an SVG, leaves on the left, the loss on the right."""
        return graph_svg(self)

    # -- building ---------------------------------------------------------------------------
    def _declare(
        self, name: str, kind: Kind, expr=None, latex: str | None = None, role: str | None = None
    ) -> sp.Symbol:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise GraphError(
                f"invalid name {name!r}: use a letter then letters, digits or _ ^ ( ) [ ] , . '"
                " (at most 64 characters)"
            )
        if name in self._by_name:
            raise GraphError(f"name {name!r} is declared twice")
        if self._loss is not None:
            raise GraphError(f"cannot add {name!r}: the loss is already set")
        uses = frozenset()
        if kind in (Kind.NODE, Kind.LOSS):  # None is not an expression either
            expr = _as_expr(name, expr)
            uses = _symbols_of(expr)
            unknown = sorted(uses.difference(self._entries), key=lambda s: s.name)
            if unknown:
                names = ", ".join(s.name for s in unknown)
                raise GraphError(f"the expression of {name!r} uses undeclared symbols: {names}")
        symbol = _real_symbol(name)
        self._entries[symbol] = _Entry(symbol, kind, expr, latex, role, uses, len(self._entries))
        self._by_name[name] = symbol
        if kind is Kind.LOSS:
            self._loss = symbol
        return symbol

    def input(self, name: str, *, latex: str | None = None) -> sp.Symbol:
        """Declare an input and return its symbol."""
        return self._declare(name, Kind.INPUT, latex=latex)

    def target(self, name: str, *, latex: str | None = None) -> sp.Symbol:
        """Declare a target (label) and return its symbol."""
        return self._declare(name, Kind.TARGET, latex=latex)

    def parameter(self, name: str, *, latex: str | None = None) -> sp.Symbol:
        """Declare a trainable parameter and return its symbol."""
        return self._declare(name, Kind.PARAMETER, latex=latex)

    def node(self, name: str, expr: sp.Expr, *, latex: str | None = None) -> sp.Symbol:
        """Add an intermediate ``name = expr`` (expr in earlier symbols); return its symbol."""
        return self._declare(name, Kind.NODE, expr, latex)

    def loss(self, name: str, expr: sp.Expr, *, latex: str | None = None) -> sp.Symbol:
        """Set the scalar objective ``name = expr``; return its symbol."""
        return self._declare(name, Kind.LOSS, expr, latex)

    def targets_sum_to_one(self, targets: Iterable[sp.Symbol] | None = None) -> None:
        """State that the targets are one-hot (sum to one), as softmax + cross-entropy assumes.

        The derivation may then use Σ y_k = 1 to simplify δ, e.g. to p_k − y_k.
        """
        group = tuple(targets) if targets is not None else tuple(self.targets)
        for s in group:
            if self.kind(s) is not Kind.TARGET:
                raise GraphError(f"{s} is not a target")
        self._sums_to_one.append(group)

    # -- reading ----------------------------------------------------------------------------
    def _of(self, *kinds: Kind) -> list[sp.Symbol]:
        return [e.symbol for e in self._entries.values() if e.kind in kinds]

    @property
    def inputs(self) -> list[sp.Symbol]:
        return self._of(Kind.INPUT)

    @property
    def targets(self) -> list[sp.Symbol]:
        return self._of(Kind.TARGET)

    @property
    def parameters(self) -> list[sp.Symbol]:
        return self._of(Kind.PARAMETER)

    @property
    def nodes(self) -> list[sp.Symbol]:
        """Intermediate nodes and the loss, in declaration (topological) order."""
        return self._of(Kind.NODE, Kind.LOSS)

    @property
    def leaves(self) -> list[sp.Symbol]:
        """Inputs, targets and parameters: the arguments of every evaluator."""
        return self._of(Kind.INPUT, Kind.TARGET, Kind.PARAMETER)

    @property
    def symbols(self) -> list[sp.Symbol]:
        return list(self._entries)

    @property
    def loss_symbol(self) -> sp.Symbol:
        if self._loss is None:
            raise GraphError("the graph has no loss: call g.loss(name, expr)")
        return self._loss

    @property
    def one_hot_groups(self) -> list[tuple[sp.Symbol, ...]]:
        return list(self._sums_to_one)

    def __contains__(self, item) -> bool:
        return item in self._entries or item in self._by_name

    def symbol(self, name: str | sp.Symbol) -> sp.Symbol:
        """The symbol called ``name`` (a symbol is returned as is, if it belongs here)."""
        if isinstance(name, sp.Symbol):
            if name in self._entries:
                return name
            raise GraphError(f"{name} is not a symbol of this graph")
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            raise GraphError(f"unknown name {name!r}") from None

    def kind(self, symbol: sp.Symbol) -> Kind:
        return self._entries[self.symbol(symbol)].kind

    def expr(self, symbol: sp.Symbol) -> sp.Expr:
        """The defining expression of a node (or the loss)."""
        entry = self._entries[self.symbol(symbol)]
        if entry.expr is None:
            raise GraphError(f"{symbol} is a {entry.kind.value}, it has no expression")
        return entry.expr

    def latex_name(self, symbol: sp.Symbol) -> str | None:
        entry = self._entries[self.symbol(symbol)]
        return entry.latex if entry.latex is not None else self._spelled(entry.symbol)

    def _spelled(self, symbol: sp.Symbol) -> str | None:
        """A builder's spelling of a symbol declared without one, made when it is asked for:
        a wide net's 33 000 weights are spelled only if something prints them."""
        return None

    def set_latex(self, symbol: sp.Symbol, latex: str) -> None:
        self._entries[self.symbol(symbol)].latex = latex

    def parents(self, symbol: sp.Symbol) -> list[sp.Symbol]:
        """Symbols that the node's expression uses, in declaration order."""
        entry = self._entries[self.symbol(symbol)]
        if entry.expr is None:
            return []
        # sorted by declaration order, not by a scan of every symbol: a deep net's notes ask
        # for every node's parents, which the scan made quadratic in its size
        entries = self._entries
        return sorted(entry.uses, key=lambda s: entries[s].order)

    def children(self, symbol: sp.Symbol) -> list[sp.Symbol]:
        """Nodes whose expressions use ``symbol``, in declaration order."""
        return list(self._children().get(self.symbol(symbol), ()))

    def _children(self) -> dict[sp.Symbol, list[sp.Symbol]]:
        # Nodes are visited in declaration order, so each list is built already in that order.
        children: dict[sp.Symbol, list[sp.Symbol]] = {s: [] for s in self._entries}
        for s, entry in self._entries.items():
            for parent in entry.uses:
                children[parent].append(s)
        return children

    def forward_equations(self) -> list[tuple[sp.Symbol, sp.Expr]]:
        """(node, expression) for every node and the loss, in order."""
        return [(s, self._entries[s].expr) for s in self.nodes]

    def expand(self, expr: sp.Expr) -> sp.Expr:
        """Rewrite ``expr`` in inputs, targets and parameters only (no node symbols)."""
        subs = {}
        for s in self.nodes:
            subs[s] = self._entries[s].expr.xreplace(subs)
        return expr.xreplace(subs)

    @property
    def delta_nodes(self) -> list[sp.Symbol]:
        """The nodes whose δ a derivation names (every node but the loss, unless a builder
        chooses fewer, as an MLP does with its pre-activations)."""
        return [s for s in self.nodes if s != self._loss]

    def delta_latex(self, node: sp.Symbol) -> str | None:
        """A notation's spelling of δ for ``node``, if it has one."""
        return None

    def delta_key(self, node: sp.Symbol) -> str | None:
        return None

    def validate(self) -> None:
        """Raise GraphError unless the graph has a loss and every parameter is a leaf."""
        loss = self.loss_symbol
        if not self._entries[loss].uses:
            raise GraphError("the loss is a constant")
