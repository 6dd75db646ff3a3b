"""Reverse-mode derivation: one δ per node, chain-rule factorisations, gradients.

The whole idea is :meth:`Derivation._backward`: walk the nodes from the loss backwards and give
each one its adjoint δ_v = Σ_c δ_c · ∂c/∂v over its children c. Every δ is reused by all the
parameters below it, instead of differentiating the expanded loss once per weight (seed 003).

>>> import symbackprop as sb
>>> net = sb.mlp([2, 2, 1], activation="sigmoid", loss="mse")
>>> d = sb.derive(net)
>>> d.chain(net.weight(2, 1, 1))
Chain(dL/dw5 = dL/dyhat * dyhat/dz3 * dz3/dw5)
>>> [f.result for f in d.chain(net.weight(2, 1, 1)).paths[0]]
[-2*(y - yhat), yhat*(1 - yhat), h1]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property

import sympy as sp

from ..codegen.scalar import Evaluator
from ..core.graph import Graph, Kind, collector_paused, product, sum_of_products
from ..core.polys import polys_can_take
from ..printing.latex import derivation_latex
from .chains import Chain, Delta, Factor
from .textbook import per_weight, sum_to_one, textbook_signs
from .walk import (
    TIDY_OPS,
    diff_function,
    diff_term,
    expands_to_at_most,
    is_small,
    node_count,
    replace_deltas,
)

__all__ = ["derive", "Derivation", "Chain", "Factor", "Delta", "MAX_CHAIN_PATHS"]

#: chain() enumerates every path from a parameter to the loss; past this many it refuses and
#: points at the δ form, which stays linear in the size of the net.
MAX_CHAIN_PATHS = 4096

# cancel + factor of a quotient (σ + bce's δ becomes ŷ − y) is polynomial gcd and factoring in
# every symbol: on general graphs of 10–12 nodes, quotients of 50–66 tree nodes in 12–14
# symbols took 2–4 s each and never simplified; the ones that do (softmax + CE: 39 nodes,
# 10 symbols, 0.05 s) are under these bounds.
_CANCEL_NODES = 48
_CANCEL_SYMBOLS = 10


class Derivation:
    """Everything reverse mode knows about a graph: δs, chains and gradients.

    Build it with :func:`derive`; it computes the δ recursion once and everything else lazily.
    """

    def __init__(self, graph: Graph,
                 progress: Callable[[int, int], None] | None = None) -> None:
        graph.validate()
        self.graph = graph
        self.loss = graph.loss_symbol
        with collector_paused():  # hundreds of thousands of objects, no cycle among them
            self._children = graph._children()
            self._exprs = {s: graph.expr(s) for s in graph.nodes}
            # Textbook form: a local derivative in node symbols, e.g. sigmoid(z3) -> yhat.
            self._named = {e: s for s, e in self._exprs.items() if isinstance(e, sp.Function)}
            self._terms: dict[sp.Symbol, dict[sp.Symbol, list[sp.Expr]]] = {}
            self._local: dict[tuple[sp.Symbol, sp.Symbol], sp.Expr] = {}
            self._factors: dict[sp.Symbol, dict[sp.Symbol, sp.Symbol]] = {}
            self.delta_symbols = {v: self._make_delta_symbol(v) for v in graph.nodes}
            self._progress = progress
            self.deltas: dict[sp.Symbol, sp.Expr] = self._backward()
        self._values: dict[sp.Symbol, sp.Expr] = {}
        self._exact_values: dict[sp.Symbol, sp.Expr] = {}
        self._expanded: dict[sp.Symbol, sp.Expr] = {}

    # -- the reverse-mode loop ------------------------------------------------------------------
    def _backward(self) -> dict[sp.Symbol, sp.Expr]:
        """δ_v = Σ_c δ_c · ∂c/∂v for every symbol, visiting the graph from the loss backwards.

        δ_c appears as a symbol (δ_L is 1), so each δ is a short expression that reuses the ones
        after it: this is backpropagation, and its size is linear in the number of edges.
        """
        delta: dict[sp.Symbol, sp.Expr] = {self.loss: sp.S.One}
        symbols = self.graph.symbols
        refs = {**self.delta_symbols, self.loss: sp.S.One}  # _delta_ref, looked up per edge
        local, children = self.local, self._children
        for k, v in enumerate(reversed(symbols)):
            if self._progress and k % 2000 == 0:
                self._progress(k, len(symbols))
            terms = [product(refs[c], local(c, v)) for c in children[v] if c in delta]
            if terms:
                delta[v] = sum_of_products(terms)
        return delta

    def children(self, v: sp.Symbol | str) -> list[sp.Symbol]:
        """The nodes whose expressions use ``v`` (in the graph's order).

        >>> import symbackprop as sb
        >>> sb.derive(sb.mlp([2, 2, 1])).children("h1")
        [z3]
        """
        return list(self._children[self.graph.symbol(v)])

    # -- local derivatives ----------------------------------------------------------------------
    def local(self, child: sp.Symbol, parent: sp.Symbol) -> sp.Expr:
        """∂child/∂parent from child's own expression, in textbook form (node symbols).

        >>> import symbackprop as sb
        >>> net = sb.mlp([2, 2, 1]); d = sb.derive(net)
        >>> d.local(net.symbol("yhat"), net.symbol("z3"))
        yhat*(1 - yhat)
        """
        factors = self._factors.get(child)  # w·a's ∂/∂a is w, found when the sum was indexed
        if factors is not None:
            found = factors.get(parent)
            if found is not None:
                return found
        key = (child, parent)
        found = self._local.get(key)
        if found is None:
            found = self._diff(child, parent)
            if not isinstance(found, sp.Symbol):  # w·a's ∂/∂a is w: nothing to tidy
                found = self._textbook(found)
            self._local[key] = found
        return found

    def _diff(self, child: sp.Symbol, parent: sp.Symbol) -> sp.Expr:
        expr = self._exprs[child]
        if not isinstance(expr, sp.Add):
            return diff_function(expr, parent)
        # A pre-activation is a long sum; differentiate only the terms that hold the parent so
        # that deriving a layer of width n costs O(n) per unit, not O(n^2).
        index = self._terms.get(child)
        if index is None:
            index, factors = {}, {}
            for term in expr.args:
                # w·a (most terms) holds its two symbols as args: no free_symbols walk, and
                # each is the other's derivative, unless it is in another term too
                a, b = term.args if type(term) is sp.Mul and len(term.args) == 2 else (0, 0)
                plain = isinstance(a, sp.Symbol) and isinstance(b, sp.Symbol)
                for s, other in ((a, b), (b, a)) if plain else ((s, None) for s in
                                                                 term.free_symbols):
                    index.setdefault(s, []).append(term)
                    factors[s] = other if s not in factors else None
            self._terms[child] = index
            self._factors[child] = {s: f for s, f in factors.items() if f is not None}
        terms = index.get(parent, ())
        if len(terms) == 1:  # the usual case: parent is in one term of the sum
            return diff_term(terms[0], parent)
        return sp.Add(*[diff_term(t, parent) for t in terms])

    def _textbook(self, expr: sp.Expr) -> sp.Expr:
        expr = expr.xreplace(self._named) if self._named else expr
        if isinstance(expr, sp.Add) and is_small(expr, 2 * TIDY_OPS) and polys_can_take(expr):
            factored = sp.factor(expr)
            if sp.count_ops(factored) <= sp.count_ops(expr):
                return factored
        return expr

    def _delta_ref(self, node: sp.Symbol) -> sp.Expr:
        return sp.S.One if node == self.loss else self.delta_symbols[node]

    def _make_delta_symbol(self, node: sp.Symbol) -> sp.Symbol:
        key = self.graph.delta_key(node) or f"delta_{node.name}"
        return _DeltaSymbol(key, real=True)

    # -- δ ----------------------------------------------------------------------------------------
    def delta_latex(self, node: sp.Symbol) -> str | None:
        """The notation's spelling of δ for ``node`` (None: spell it δ_{node})."""
        return self.graph.delta_latex(node)

    def delta(self, node: sp.Symbol | str) -> Delta:
        """δ of a node: its recursion over the next named δs, and its value in node symbols.

        >>> import symbackprop as sb
        >>> net = sb.mlp([2, 2, 1]); d = sb.derive(net)
        >>> d.delta(net.pre(1, 1)).recursion
        h1*w5*delta_z3*(1 - h1)
        """
        node = self.graph.symbol(node)
        if self.graph.kind(node) not in (Kind.NODE, Kind.LOSS):
            raise ValueError(f"{node} is a {self.graph.kind(node).value}; δ is defined for nodes")
        named = set(self.graph.delta_nodes)
        value = self.value(node)
        return Delta(
            node,
            self.delta_symbols[node],
            self.recursion(node, named),
            value,
            self._assumptions(self.exact_value(node), value),
            self,
        )

    def recursion(self, node: sp.Symbol | str,
                  named: set[sp.Symbol] | None = None) -> sp.Expr:
        """∂L/∂node (a node or a parameter) over the next *named* δs: δ_v = Σ_c δ_c ∂c/∂v
        with every δ that is not one of ``named`` (default: the graph's named δ-nodes)
        replaced by its own recursion, so that only the δs a text names appear. Linear in the
        edges crossed; no chain-rule path is listed.

        >>> import symbackprop as sb
        >>> d = sb.derive(sb.rnn(1, 1, 1, steps=2))
        >>> d.gradient("U", form="delta")  # δ of a_t: no text names it
        x_1*delta_a_1 + x_2*delta_a_2
        >>> d.recursion("U")  # through it, to δ_t = ∂L/∂h_t
        x_1*delta_1*(1 - h_1**2) + x_2*delta_2*(1 - h_2**2)
        """
        node = self.graph.symbol(node)
        if named is None:  # made once: made per call, a deep net's notes were quadratic
            named = self.__dict__.get("_named_deltas") or self.__dict__.setdefault(
                "_named_deltas", frozenset(self.graph.delta_nodes))
        if node not in self.deltas or node == self.loss:
            return sp.S.Zero if node != self.loss else sp.S.One
        expr = self.deltas[node]
        while True:
            # free_symbols once (SymPy walks the tree on every access), mapped back to nodes
            # rather than testing every δ symbol of the net against it.
            nodes = self._delta_nodes()
            inner = {
                s: self.deltas.get(n, sp.S.Zero)
                for s in expr.free_symbols
                if (n := nodes.get(s)) is not None and n not in named and n != self.loss
            }
            if not inner:
                return expr
            expr = expr.xreplace(inner)

    def value(self, node: sp.Symbol | str) -> sp.Expr:
        """∂L/∂node in node symbols (no δ symbols), simplified as a lecturer writes it.

        With one-hot targets this uses Σ y_k = 1 (softmax + cross-entropy gives p_k − y_k).
        """
        node = self.graph.symbol(node)
        if node not in self._values:
            exact = self.exact_value(node)
            self._values[node] = self._tidy(exact, one_hot=True)
        return self._values[node]

    def exact_value(self, node: sp.Symbol | str) -> sp.Expr:
        """∂L/∂node in node symbols, valid for any targets (no one-hot assumption)."""
        node = self.graph.symbol(node)
        if node in self._exact_values:
            return self._exact_values[node]
        # Fill in the values of everything after `node` first, latest first, without recursion.
        order = self._order()
        pending, seen = [node], set()
        while pending:
            v = pending.pop()
            if v in seen or v in self._exact_values:
                continue
            seen.add(v)
            pending.extend(c for c in self._children[v] if c in self.deltas)
        for v in sorted(seen, key=order.__getitem__, reverse=True):
            if v == self.loss:
                self._exact_values[v] = sp.S.One
            elif v not in self.deltas:
                self._exact_values[v] = sp.S.Zero
            else:
                expr = replace_deltas(self.deltas[v], {
                    self.delta_symbols[c]: self._exact_values[c]
                    for c in self._children[v] if c in self.deltas and c != self.loss
                })
                self._exact_values[v] = self._tidy(expr, one_hot=False)
        return self._exact_values[node]

    def _delta_nodes(self) -> dict[sp.Symbol, sp.Symbol]:
        nodes = self.__dict__.get("_node_of_delta")
        if nodes is None:
            nodes = self._node_of_delta = {s: n for n, s in self.delta_symbols.items()}
        return nodes

    def _order(self) -> dict[sp.Symbol, int]:
        # Built once: rebuilding it per δ cost 17 ms a call on a 128-wide net (2 s of all δs).
        order = self.__dict__.get("_symbol_order")
        if order is None:
            order = self._symbol_order = {s: i for i, s in enumerate(self.graph.symbols)}
        return order

    def _tidy(self, expr: sp.Expr, one_hot: bool) -> sp.Expr:
        # is_small first: count_ops walks the whole tree, which grows exponentially with depth
        # for δ values in node symbols (82-98% of a deep net's δ time went to that walk).
        if not is_small(expr, 2 * TIDY_OPS):
            return expr
        start = expr
        if one_hot:
            for group in self.graph.one_hot_groups:
                if set(group) <= expr.free_symbols and expands_to_at_most(expr) \
                        and polys_can_take(expr):
                    reduced = sum_to_one(expr, group)
                    if reduced != sp.expand(expr):
                        factored = per_weight(
                            textbook_signs(sp.factor(reduced), set(self._exprs)),
                            set(self._exprs), set(group))
                        expr = factored if sp.count_ops(factored) <= sp.count_ops(reduced) \
                            else reduced
        if one_hot and expr is start:
            return expr  # value() of an exact value Σy = 1 left alone: already cancelled once
        # the bounds first: the walk for a division covers the whole tree (1.3 s of a deep
        # net's δ section went to it, for trees too big to cancel anyway)
        if is_small(expr, _CANCEL_NODES) and len(expr.free_symbols) <= _CANCEL_SYMBOLS \
                and any(isinstance(p, sp.Pow) and p.exp.is_negative
                        for p in sp.preorder_traversal(expr)) \
                and polys_can_take(expr):
            cancelled = sp.cancel(expr)
            # A cancel that more than doubles the tree (43 → 389 nodes) has never factored
            # back to something simpler here, and factoring it is the slow part: skip it.
            if is_small(cancelled, 2 * node_count(expr) + 8):
                simpler = sp.factor(cancelled)
                if sp.count_ops(simpler) < sp.count_ops(expr):
                    expr = simpler
        return expr

    def _assumptions(self, exact: sp.Expr, value: sp.Expr) -> tuple[str, ...]:
        if exact == value:
            return ()
        return tuple(
            " + ".join(s.name for s in group) + " = 1"
            for group in self.graph.one_hot_groups
            if set(group) <= exact.free_symbols
        )

    # -- chains and gradients -------------------------------------------------------------------
    def chain(self, parameter: sp.Symbol | str) -> Chain:
        """The chain-rule factorisation of ∂L/∂parameter: a sum over paths of local factors.

        >>> import symbackprop as sb
        >>> net = sb.mlp([2, 2, 1]); d = sb.derive(net)
        >>> d.chain("w1")
        Chain(dL/dw1 = dL/dyhat * dyhat/dz3 * dz3/dh1 * dh1/dz1 * dz1/dw1)
        """
        p = self.graph.symbol(parameter)
        if self.path_count(p) > MAX_CHAIN_PATHS:
            raise ValueError(
                f"∂{self.loss}/∂{p} has more than {MAX_CHAIN_PATHS} chain-rule paths;"
                " use d.gradient(p, form='delta') or d.delta(node), which reuse δ"
            )
        paths: list[tuple[Factor, ...]] = []
        stack: list[tuple[sp.Symbol, tuple[Factor, ...]]] = [(p, ())]
        while stack:
            v, below = stack.pop()
            for c in reversed(self._children[v]):
                if c not in self.deltas:
                    continue
                path = (Factor(c, v, self.local(c, v), self), *below)
                if c == self.loss:
                    paths.append(path)
                else:
                    stack.append((c, path))
        paths.sort(key=lambda path: [sp.default_sort_key(f.wrt) for f in path])
        return Chain(p, self.loss, tuple(paths), self.deltas.get(p, sp.S.Zero), self)

    def path_count(self, parameter: sp.Symbol | str) -> int:
        """How many chain-rule paths lead from ``parameter`` to the loss, counted by dynamic
        programming (paths(v) = Σ paths(c) over v's children), without listing them.

        >>> import symbackprop as sb
        >>> d = sb.derive(sb.mlp([2, 2, 2, 1]))
        >>> d.path_count("w1"), d.path_count("w9")
        (2, 1)
        """
        p = self.graph.symbol(parameter)
        counts = self.__dict__.get("_path_counts")
        if counts is None:
            counts = {self.loss: 1}
            for v in reversed(self.graph.symbols):
                if v != self.loss:
                    counts[v] = sum(counts.get(c, 0) for c in self._children[v] if c in self.deltas)
            self._path_counts = counts
        return counts.get(p, 0)

    def chain_edges(self, parameter: sp.Symbol | str) -> list[Factor]:
        """The local factors of every chain-rule path from ``parameter`` to the loss, each once,
        without listing the paths (linear in the edges, however many paths there are): an edge
        v → c lies on such a path when v is ``parameter`` or reached from it. They come in the
        order in which :meth:`chain`'s sorted paths first meet them.

        >>> import symbackprop as sb
        >>> d = sb.derive(sb.mlp([2, 2, 1]))
        >>> [str(f) for f in d.chain_edges("w1")]
        ['dL/dyhat', 'dyhat/dz3', 'dz3/dh1', 'dh1/dz1', 'dz1/dw1']
        """
        p = self.graph.symbol(parameter)
        below = {p}  # p and every node it reaches
        for v in self.graph.symbols[self._order()[p]:]:
            if v in below:
                below.update(c for c in self._children[v] if c in self.deltas)
        if self.loss not in below:
            return []
        parents: dict[sp.Symbol, list[sp.Symbol]] = {}
        for v in below:
            for c in self._children[v]:
                if c in below and c in self.deltas:
                    parents.setdefault(c, []).append(v)
        # Depth first from the loss, parents in the paths' sort order: the first path through
        # an edge is met first; below a node met before, every edge is met already.
        edges: list[Factor] = []
        seen = {self.loss}
        stack = [(self.loss, iter(sorted(parents.get(self.loss, ()), key=sp.default_sort_key)))]
        while stack:
            c, ups = stack[-1]
            v = next(ups, None)
            if v is None:
                stack.pop()
                continue
            edges.append(Factor(c, v, self.local(c, v)))
            if v not in seen:
                seen.add(v)
                stack.append((v, iter(sorted(parents.get(v, ()), key=sp.default_sort_key))))
        return edges

    def gradient(self, parameter: sp.Symbol | str, form: str = "expanded") -> sp.Expr:
        """∂L/∂parameter.

        ``form`` is ``"expanded"`` (inputs, targets and parameters only: the default),
        ``"intermediate"`` (in node symbols, as the chain's factors give it), ``"delta"``
        (Σ δ_c · ∂c/∂p with δ symbols: the δ_j·a_i form, cheap at any size) or ``"named"``
        (the same over the graph's named δs only, see :meth:`recursion`).

        >>> import symbackprop as sb
        >>> net = sb.mlp([2, 2, 1]); d = sb.derive(net)
        >>> d.gradient("w5", form="delta"), d.gradient("w5", form="intermediate")
        (h1*delta_z3, -2*h1*yhat*(1 - yhat)*(y - yhat))
        """
        p = self.graph.symbol(parameter)
        if self.graph.kind(p) is not Kind.PARAMETER:
            raise ValueError(f"{p} is a {self.graph.kind(p).value}, not a parameter")
        if form == "delta":
            return self.deltas.get(p, sp.S.Zero)
        if form == "named":
            return self.recursion(p)
        if form == "intermediate":
            return self.value(p)
        if form == "expanded":
            if p not in self._expanded:
                self._expanded[p] = self.graph.expand(self.exact_value(p))
            return self._expanded[p]
        raise ValueError(f"unknown form {form!r}; expected 'expanded', 'intermediate', 'delta' "
                         "or 'named'")

    @cached_property
    def gradients(self) -> Mapping[sp.Symbol, sp.Expr]:
        """Every parameter's expanded gradient, computed when first looked up."""
        return _LazyGradients(self)

    # -- numbers (numeric.py does the work; these are the DESIGN.md entry points) -----------------
    def evaluate(self, values: Mapping) -> object:
        """Values of every node, the loss and every gradient at ``values`` (name -> number)."""
        return self.evaluator.evaluate(values)

    @cached_property
    def evaluator(self):
        """The compiled numpy evaluator (lambdified once, with backprop as its CSE)."""
        return Evaluator(self)

    def _repr_latex_(self) -> str:
        """Jupyter shows the gradients, in δ form and in node symbols."""
        return derivation_latex(self)

    def __repr__(self) -> str:
        g = self.graph
        return (
            f"<Derivation of {g.title}: {len(g.parameters)} parameters, "
            f"{len(g.nodes)} nodes, loss {self.loss}>"
        )


class _DeltaSymbol(sp.Symbol):
    """A δ symbol: its own class, so it never equals a graph symbol of the same name."""


class _LazyGradients(Mapping):
    def __init__(self, derivation: Derivation) -> None:
        self._d = derivation

    def __getitem__(self, key):
        return self._d.gradient(key)

    def __iter__(self):
        return iter(self._d.graph.parameters)

    def __len__(self) -> int:
        return len(self._d.graph.parameters)


def derive(graph: Graph, progress: Callable[[int, int], None] | None = None) -> Derivation:
    """Derive ∂L/∂p for every parameter of ``graph`` by reverse mode.

    ``progress(done, total)``, if given, is called every 2000 symbols of the backward sweep
    (a 128-128-128-1 net has about 34 000).

    >>> import symbackprop as sb
    >>> d = sb.derive(sb.mlp([2, 2, 1]))
    >>> d.gradient("w6", form="delta")
    h2*delta_z3
    """
    return Derivation(graph, progress)
