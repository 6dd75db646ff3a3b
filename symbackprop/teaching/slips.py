"""The slips of a hand calculation, each worked out: what a student gets who makes it.

A :class:`HandCalculator` is the pass of :mod:`handpass` (forward and backward, numerically, over
a Derivation's own local factors) with each slip as one small change to it (σ′ evaluated at the
activation, tanh′ written as sech, the δ of the wrong layer, …), giving every quantity a claims
file names: node values, ``dL/dv`` for nodes and parameters, local factors ``dc/dp`` and updates
``p'``.
``grade`` and ``lint`` compare a wrong number with these to name its slip; ``quiz`` uses them as
multiple-choice distractors.

>>> import symbackprop as sb
>>> d = sb.derive(sb.mlp([2, 2, 1]))
>>> v = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
>>> calc = HandCalculator(d, v, learning_rate=0.1)
>>> round(calc.truth["dL/dw5"], 4), round(calc.slipped("sigma_prime_at_a")["dL/dw5"], 4)
(-0.0998, -0.0984)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import sympy as sp

from ..core.functions import sigmoid, softmax
from ..core.graph import Kind
from .handpass import HandPass, evaluate_at

__all__ = ["Slip", "HandCalculator", "SLIPS", "matrix_entries"]

#: Slips that change the calculation itself, in the order they are tried (most specific first).
SLIPS = (
    "sigma_prime_at_a", "tanh_prime_sech", "tanh_prime_one_minus_z2", "softmax_diagonal",
    "one_over_m_missing", "one_over_m_doubled", "factor_2", "transposed_index",
    "shared_one_use", "delta_one_path", "wrong_layer_delta", "updated_weights_used",
    "learning_rate_sign",
)


@dataclass(frozen=True)
class Slip:
    """A named slip and what it concerns (``detail``: e.g. which intermediate was rounded).

    The sentence that describes it lives in templates/_slips.txt.j2, keyed by ``name``.
    """

    name: str
    detail: Mapping[str, object] = field(default_factory=dict)
    #: ``detail`` with its quantities spelled as the notes print them (W_hh, not the key Whh),
    #: for report text; empty: the detail as it stands.
    shown: Mapping[str, object] = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        return self.name

    def spelled(self, graph) -> Slip:
        """This slip with ``shown`` filled in ``graph``'s notation.

        >>> import symbackprop as sb
        >>> net = sb.rnn(1, 1, 1, steps=2, notation="karpathy")
        >>> Slip("carried", {"key": "dL/dWhh", "value": "0.1"}).spelled(net).shown["key"]
        'dL/dW_hh'
        """
        shown = {k: spelled(v, graph) if isinstance(v, str) else v
                 for k, v in self.detail.items()}
        return Slip(self.name, self.detail, shown)


def spelled(text: str, graph) -> str:
    """grade's and lint's names (``Whh``, ``dL/dWhh``, ``Whh'``, ``a_2, a_3``) as the notes
    print them, in plain text: a subscript loses its braces (W_{hh} → W_hh)."""
    def one(name: str) -> str:
        latex = graph.latex_name(name) if name in graph else None
        return re.sub(r"_\{([^{}]*)\}", r"_\1", latex) if latex else name

    derivative = re.fullmatch(r"d(.+)/d(.+)", text)
    if derivative and all(part in graph for part in derivative.groups()):
        return "d{}/d{}".format(*map(one, derivative.groups()))
    if text.endswith("'") and text[:-1] in graph:
        return one(text[:-1]) + "'"
    return ", ".join(one(part) for part in text.split(", "))


class HandCalculator(HandPass):
    """Forward and backward pass by hand, at full precision, with or without a slip."""

    def slipped(self, name: str) -> dict[str, float]:
        """The quantities a hand calculation gets with the slip ``name`` (empty: not possible here)."""
        if name not in self._cache:
            self._cache[name] = getattr(self, f"_slip_{name}")()
        return self._cache[name]

    def candidates(self, key: str) -> Iterator[tuple[Slip, float]]:
        """(slip, the value it gives for ``key``) for every slip that changes ``key``."""
        true = self.truth.get(key)
        for name in SLIPS:
            if name == "delta_one_path":  # one variant per kind of fork: each its own slip
                for through, quantities in self._one_path_variants():
                    value = quantities.get(key)
                    if value is not None and true is not None and not _same(value, true):
                        yield Slip(name, {"through": through}), value
                continue
            value = self.slipped(name).get(key)
            if value is not None and true is not None and not _same(value, true):
                yield Slip(name, self._detail(name, key)), value
        yield from self._other_parameter(key)

    def _other_parameter(self, key: str) -> Iterator[tuple[Slip, float]]:
        """The gradient of another parameter of the same kind (a kernel index shifted, keys
        swapped): tried after every other slip, as any number may happen to match one."""
        loss = self.loss.name
        prefix = f"d{loss}/d"
        if not key.startswith(prefix) or key[len(prefix):] not in self.graph:
            return
        mine = self.graph.symbol(key[len(prefix):])
        if self.graph.kind(mine) is not Kind.PARAMETER:
            return
        stem = _stem(mine.name)
        for p in self.graph.parameters:
            if p != mine and _stem(p.name) == stem and \
                    not _same(self.truth[prefix + p.name], self.truth[key]):
                yield Slip("other_parameter", {"other": p.name}), self.truth[prefix + p.name]

    def _detail(self, name: str, key: str) -> dict[str, object]:
        if name == "transposed_index":
            return {"other": self._transposed.get(key.split("/d")[-1].rstrip("'"), "")}
        if name in ("one_over_m_missing", "one_over_m_doubled"):
            return {"m": self._mean_size()}
        if name == "factor_2":
            return {"half": getattr(self.graph, "loss_name", "") == "half_sse"}
        if name == "delta_one_path":
            through = sorted({c.name for c, _v in self._shortcut_edges()})
            return {"through": ", ".join(through[:3]) + (", …" if len(through) > 3 else "")}
        if name == "shared_one_use":
            return {"use": self._kept_use(key.split("/d")[-1].rstrip("'"))}
        return {}

    def _kept_use(self, parameter: str) -> str:
        g, dist = self.graph, self._distances()
        uses = [c for c in g.children(g.symbol(parameter)) if c in dist] if parameter in g else []
        return [c for c in uses if dist[c] == min(dist[u] for u in uses)][-1].name if uses else ""

    def applicable(self) -> list[str]:
        """The slips that change some quantity of this network (the others cannot happen here:
        no σ, no tanh, no matrix entry with a transposed partner, no mean, …).

        >>> import symbackprop as sb
        >>> d = sb.derive(sb.mlp([2, 2, 1]))
        >>> calc = HandCalculator(d, {s.name: 0.5 for s in d.graph.leaves})
        >>> "tanh_prime_sech" in calc.applicable(), "sigma_prime_at_a" in calc.applicable()
        (False, True)
        """
        return [name for name in SLIPS if any(
            key in self.truth and not _same(value, self.truth[key])
            for key, value in self.slipped(name).items())]

    def _activation_edges(self, function) -> list[tuple[sp.Symbol, sp.Symbol]]:
        g = self.graph
        return [(c, p) for c, p in self._edges if g.expr(c) == function(p)]

    def _with_locals(self, edges, value) -> dict[str, float]:
        if not edges:
            return {}
        chosen = set(edges)

        def local(c, p, at):
            if (c, p) in chosen:
                return value(at[c], at[p])
            return evaluate_at(self._local[(c, p)], at)
        return self.quantities(local=local)

    def _slip_sigma_prime_at_a(self):
        def at_a(a, _z):
            s = 1 / (1 + math.exp(-a))
            return s * (1 - s)
        return self._with_locals(self._activation_edges(sigmoid), at_a)

    def _slip_tanh_prime_sech(self):
        return self._with_locals(self._activation_edges(sp.tanh), lambda _a, z: 1 / math.cosh(z))

    def _slip_tanh_prime_one_minus_z2(self):
        return self._with_locals(self._activation_edges(sp.tanh), lambda _a, z: 1 - z * z)

    def _mean_size(self) -> int:
        """m of a loss that is a mean over m outputs (0: not a mean, or m = 1)."""
        if getattr(self.graph, "loss_name", "mse") not in ("mse", "bce"):
            return 0
        coeff, _ = sp.factor_terms(self.graph.expr(self.loss)).as_coeff_Mul()
        return int(coeff.q) if coeff.is_Rational and coeff.p == 1 and coeff.q > 1 else 0

    def _scaled_loss(self, scale: float) -> dict[str, float]:
        def local(c, p, at):
            value = evaluate_at(self._local[(c, p)], at)
            return value * scale if c == self.loss else value
        q = self.quantities(local=local)
        q[self.loss.name] = self.truth[self.loss.name] * scale
        return q

    def _slip_one_over_m_missing(self):
        m = self._mean_size()
        return self._scaled_loss(m) if m else {}

    def _slip_one_over_m_doubled(self):
        m = self._mean_size()
        return self._scaled_loss(1 / m) if m else {}

    def _slip_factor_2(self):
        # (y − ŷ)² differentiated as if it were ½(y − ŷ)² (the 2 forgotten), or the reverse.
        name = getattr(self.graph, "loss_name", "")
        if name in ("mse", "sse"):
            return self._scaled_loss(0.5)
        if name == "half_sse":
            return self._scaled_loss(2.0)
        return {}

    @property
    def _transposed(self) -> dict[str, str]:
        """Each matrix entry's name and the name of its transposed entry (w_ij → w_ji)."""
        if "_transposed_names" not in self.__dict__:
            entries = matrix_entries(self.graph)
            where = {v: p for p, v in entries.items()}
            out = {}
            for p, (matrix, i, j) in entries.items():
                other = where.get((matrix, j, i))
                if other is not None and other != p:
                    out[p.name] = other.name
            self.__dict__["_transposed_names"] = out
        return self.__dict__["_transposed_names"]

    def _slip_transposed_index(self):
        loss, t = self.loss.name, self.truth
        out = {}
        for w, other in self._transposed.items():
            out[f"d{loss}/d{w}"] = t[f"d{loss}/d{other}"]
            out[f"{w}'"] = self.values[self.graph.symbol(w)] - self.learning_rate * out[
                f"d{loss}/d{w}"]
        return out

    def _delta_of(self, node: sp.Symbol) -> sp.Symbol | None:
        """The named δ a gradient through ``node`` goes through: ``node`` itself, or the δ node
        it feeds directly (an RNN's a_t feeds δ_t = ∂L/∂h_t)."""
        named = self._named
        if node in named:
            return node
        after = [c for c in self.graph.children(node) if c in named]
        return after[0] if len(after) == 1 else None

    @property
    def _named(self) -> list[sp.Symbol]:
        return [v for v in self.graph.delta_nodes if v in self.graph]

    def _neighbour_delta(self, node: sp.Symbol) -> sp.Symbol | None:
        """The named δ nearest ``node`` in the next layer (breadth first towards the loss),
        else in the previous one: the δ a student takes from the wrong layer."""
        named = set(self._named)
        for step in (self.graph.children, self.graph.parents):
            seen, frontier = {node}, [node]
            while frontier:
                found = [n for n in frontier if n in named and n != node]
                if found:
                    return found[0]
                nxt = []
                for n in frontier:
                    nxt += [m for m in step(n) if m not in seen]
                    seen.update(step(n))
                frontier = nxt
        return None

    def _slip_wrong_layer_delta(self):
        g, loss, t = self.graph, self.loss.name, self.truth
        out = {}
        for p in g.parameters:
            terms = []
            for c in g.children(p):
                here = self._delta_of(c)
                other = self._neighbour_delta(here) if here is not None else None
                if other is None:
                    break
                factor = t[f"d{c.name}/d{p.name}"]
                if here != c:
                    factor *= t[f"d{here.name}/d{c.name}"]
                terms.append(factor * t[f"d{loss}/d{other.name}"])
            else:
                if terms:
                    out[f"d{loss}/d{p.name}"] = math.fsum(terms)
                    out[f"{p.name}'"] = self.values[p] - self.learning_rate * math.fsum(terms)
        return out

    def _distances(self) -> dict[sp.Symbol, int]:
        """Each node's shortest number of edges to the loss."""
        g, dist = self.graph, {self.loss: 0}
        for v in reversed(g.symbols):
            near = [dist[c] for c in g.children(v) if c in dist]
            if near:
                dist[v] = 1 + min(near)
        return dist

    def _shortcut_edges(self) -> list[tuple[sp.Symbol, sp.Symbol]]:
        """Edges (child, node) off a node's shortest way to the loss, where a node has one."""
        g, dist = self.graph, self._distances()
        out = []
        for v in g.nodes:
            kids = [c for c in g.children(v) if c in dist]
            if len(kids) < 2:
                continue
            nearest = min(dist[c] for c in kids)
            if sum(dist[c] == nearest for c in kids) == 1:
                out += [(c, v) for c in kids if dist[c] > nearest]
        return out

    def _slip_softmax_diagonal(self):
        # softmax′ written as p_k(1 − p_k), as if it were σ′: the cross terms −p_k p_j left out
        # (attention's α_j, an MLP's softmax output).
        g = self.graph
        cross = set()
        for c in g.nodes:
            e = g.expr(c)
            if isinstance(e, softmax) and e.args[1:]:
                k = int(e.args[0])
                cross |= {(c, z) for j, z in enumerate(e.args[1:], start=1)
                          if j != k and z.is_Symbol and (c, z) in self._local}
        if not cross:
            return {}

        def local(c, p, at):
            return 0.0 if (c, p) in cross else evaluate_at(self._local[(c, p)], at)
        return self.quantities(local=local)

    def _one_path_variants(self) -> list[tuple[str, dict[str, float]]]:
        """delta_one_path, once for each kind of node that forks (h_t of an RNN at every step;
        a layer's activations into a norm's μ and σ²; a residual's input into its block), so
        that a norm's slip is not mixed with a residual's."""
        if "one_path_variants" not in self._cache:
            groups: dict[str, set] = {}
            for c, v in self._shortcut_edges():
                groups.setdefault(_stem(v.name), set()).add((c, v))
            out = []
            for _stem_name, dropped in sorted(groups.items()):
                def local(c, p, at, dropped=dropped):
                    return 0.0 if (c, p) in dropped else evaluate_at(self._local[(c, p)], at)
                through = sorted({c.name for c, _v in dropped})
                out.append((", ".join(through[:3]) + (", …" if len(through) > 3 else ""),
                            self.quantities(local=local)))
            self._cache["one_path_variants"] = out
        return self._cache["one_path_variants"]

    def _slip_delta_one_path(self):
        # BPTT's δ_t without the term from step t + 1, a batch/layer norm with μ and σ² held
        # constant, a residual block's branch forgotten: only the shortest way to the loss kept
        # (every kind at once here; candidates() tries each kind alone).
        dropped = set(self._shortcut_edges())
        if not dropped:
            return {}

        def local(c, p, at):
            return 0.0 if (c, p) in dropped else evaluate_at(self._local[(c, p)], at)
        return self.quantities(local=local)

    def _slip_shared_one_use(self):
        # A parameter used in several places (an RNN's weights at every step, a kernel at every
        # position) with only the use nearest the loss counted: truncated BPTT, one position.
        g, loss, dist = self.graph, self.loss.name, self._distances()
        factors = self._factors()
        out = {}
        for p in g.parameters:
            uses = [c for c in g.children(p) if c in dist]
            if len(uses) < 2:
                continue
            nearest = min(dist[c] for c in uses)
            use = [c for c in uses if dist[c] == nearest][-1]
            grad = factors[(use, p)] * self.truth[f"d{loss}/d{use.name}"]
            out[f"d{loss}/d{p.name}"] = grad
            out[f"{p.name}'"] = self.values[p] - self.learning_rate * grad
        return out

    def _factors(self) -> dict[tuple[sp.Symbol, sp.Symbol], float]:
        at = self.forward()
        return {e: evaluate_at(self._local[e], at) for e in self._edges}

    def _slip_updated_weights_used(self):
        updated = {p: self.truth[f"{p.name}'"] for p in self.graph.parameters}
        return self.quantities(weights_at=updated)

    def _slip_learning_rate_sign(self):
        loss = self.loss.name
        return {f"{p.name}'": self.values[p] + self.learning_rate * self.truth[f"d{loss}/d{p.name}"]
                for p in self.graph.parameters}


def _stem(name: str) -> str:
    """A parameter's letter(s) and layer, without its unit indices: W_12^[1] → W^[1]."""
    return re.sub(r"_[0-9,]+", "", name)


_ENTRY = re.compile(r"^(?P<stem>[^_,]+)_(?:(?P<i>\d)(?P<j>\d)|(?P<I>\d+),(?P<J>\d+))"
                    r"(?P<rest>[\^(].*)?$")


def matrix_entries(graph) -> dict[sp.Symbol, tuple[tuple, int, int]]:
    """Each parameter that is an entry of a matrix: (which matrix, row, column).

    An MLP says so in its roles (w_ij^(l), whatever the notation prints); other networks by
    their names, ``W_12``, ``W_21^[1]``, ``Whh_12``, ``k_2,1``. A parameter without two indices
    (a bias, ``c``, a sequential ``w5``) is not an entry.

    >>> import symbackprop as sb
    >>> sorted((p.name, ix) for p, (_m, *ix) in matrix_entries(sb.rnn(1, 2, 1, steps=2)).items()
    ...        if p.name.startswith("W"))
    [('W_11', [1, 1]), ('W_12', [1, 2]), ('W_21', [2, 1]), ('W_22', [2, 2])]
    """
    roles = getattr(graph, "roles", {})
    out = {}
    for p in graph.parameters:
        role, index = roles.get(p, (None, {}))
        if role == "weight" and {"l", "i", "j"} <= set(index):
            out[p] = (("weight", index["l"]), index["i"], index["j"])
            continue
        m = _ENTRY.match(p.name)
        if m:
            i, j = (m["i"], m["j"]) if m["i"] else (m["I"], m["J"])
            out[p] = ((m["stem"], m["rest"] or ""), int(i), int(j))
    return out


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))
