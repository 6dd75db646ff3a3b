"""A model's general form first, then which few of its unrolled equations the notes show.

A model built by :mod:`symbackprop.builders` (an RNN, a convolution, attention, a network of
blocks) has a general form: the forward definitions, the named δs and the gradients with symbolic
sizes, derived by :mod:`symbackprop.forms.general` and checked entry by entry against the scalar
derivation before anything is printed. Its notes open with that form; the unrolled instance that
follows shows representatives (:class:`Focus`): the first two entries of every indexed quantity,
the last two steps of every named δ (where a backward recursion starts), and one parameter of
every weight matrix. The others are the same general equations at other indices.

>>> import symbackprop as sb
>>> f = Focus(sb.rnn(1, 2, 1, steps=4))
>>> [p.name for p in f.parameters]
['U_11', 'W_11', 'V_11', 'b_1', 'c']
>>> sorted(v.name for v in f.deltas if v.name.startswith("h"))
['h_3,1', 'h_3,2', 'h_4,1', 'h_4,2']
"""

from __future__ import annotations

import re

import sympy as sp

from ..builders.base import Model
from ..check.verify import VerificationError
from ..core.graph import Graph
from ..forms.models import general_form
from ..printing.latex import Tex
from .base import MAX_LINE
from .model import Equation, Equations, Paragraph, Section, Step

#: Entries up to this index (in every index) stand for their whole family in the instance.
SHOWN_ENTRIES = 2

# A key as the model builders write it: stem, subscripts, then ^[layer](sample).
_KEY = re.compile(r"^(?P<stem>[A-Za-z]+)(?:_(?P<ix>[0-9,]+))?"
                  r"(?:\^(?:\[(?P<layer>\d+)\])?(?:\((?P<sample>\d+)\))?)?$")


def families(graph: Graph) -> dict[sp.Symbol, tuple[str, tuple[int, ...]]]:
    """Each symbol's family (its stem, with the layer where there is one) and its indices.

    The builders' own table is read where it exists; other keys are read from their spelling
    (``a_2,1``, ``z_12^[1](2)``: sample first, then the subscripts).
    """
    known = {s: (key[0], tuple(key[1:])) for key, s in getattr(graph, "_sym", {}).items()}
    parsed = {}
    for s in graph.symbols:
        m = _KEY.match(s.name) if s not in known else None
        if m:
            stem = m["stem"] + (f"[{m['layer']}]" if m["layer"] else "")
            parsed[s] = (stem, m["ix"] or "", (int(m["sample"]),) if m["sample"] else ())
    # Subscripts run together (W_12) only when every index is below 10, so a family whose
    # plain subscripts differ in length (L_9, L_10) has one index.
    lengths: dict[str, set[int]] = {}
    for stem, text, _ in parsed.values():
        if text and "," not in text:
            lengths.setdefault(stem, set()).add(len(text))
    for s, (stem, text, sample) in parsed.items():
        if not text:
            ix = ()
        elif "," in text:
            ix = tuple(int(x) for x in text.split(","))
        elif len(lengths[stem]) > 1:
            ix = (int(text),)
        else:
            ix = tuple(int(x) for x in text)
        known[s] = (stem, sample + ix)
    return known


class Focus:
    """The representatives an unrolled instance shows (see the module's docstring)."""

    def __init__(self, graph: Graph) -> None:
        fam = families(graph)
        self.parameters: list[sp.Symbol] = []
        seen: set[str] = set()
        for p in graph.parameters:
            stem = fam.get(p, (p.name, ()))[0]
            if stem not in seen:
                seen.add(stem)
                self.parameters.append(p)
        self.nodes = frozenset(v for v in graph.nodes if v == graph.loss_symbol or v not in fam
                               or all(i <= SHOWN_ENTRIES for i in fam[v][1]))
        #: The nodes the unrolled instance leaves to the general form.
        self.hidden = frozenset(graph.nodes) - self.nodes
        named = [v for v in graph.delta_nodes if v in fam]
        last: dict[str, list[int]] = {}
        for v in named:
            stem, ix = fam[v]
            if ix:
                last.setdefault(stem, []).append(ix[0])
        ends = {stem: sorted(set(firsts))[-SHOWN_ENTRIES:] for stem, firsts in last.items()}
        self.deltas = frozenset(
            v for v in graph.delta_nodes if v not in fam or not fam[v][1]
            or (fam[v][1][0] in ends[fam[v][0]]
                and all(i <= SHOWN_ENTRIES for i in fam[v][1][1:])))


class ModelFormSection:
    """The general form section, and the focus the unrolled sections after it read."""

    @property
    def focus(self) -> Focus | None:
        """None: every equation is written out (an MLP, a plain graph, ``full`` or ``only``)."""
        if "_focus" not in self.__dict__:
            wanted = not (self.options.get("full") or self.options.get("only") is not None)
            self._focus = Focus(self.g) if wanted and isinstance(self.g, Model) else None
        return self._focus

    def shows(self, v: sp.Symbol) -> bool:
        """Whether the unrolled instance writes ``v`` (a node; leaves always appear)."""
        return self.focus is None or v not in self.focus.hidden

    def in_order(self, expr: sp.Add) -> list[sp.Expr]:
        """A long sum's terms in the graph's order (step 1, 2, …, 16), not SymPy's (1, 10, 11,
        …): by the latest node each term uses, a δ standing for its node."""
        if "_order" not in self.__dict__:
            self._order = {s: k for k, s in enumerate(self.g.symbols)}
            self._order.update({sym: self._order[v] for v, sym in self.d.delta_symbols.items()})
        return sorted(expr.args, key=lambda term: max(
            (self._order.get(s, -1) for s in term.free_symbols), default=-1))

    def rest(self, section: Section, left_out: int) -> None:
        """Say, where representatives stand for the rest, how many the general form covers."""
        if left_out:
            section.blocks.append(Paragraph("focus_rest", {"count": left_out}))

    def model_form(self) -> Section | None:
        """The model's general form, every δ and gradient checked entry by entry against the
        scalar derivation at the form's small sizes before it is printed (None: no form)."""
        if not isinstance(self.g, Model):
            return None

        try:
            form = general_form(self.g)
        except ValueError:
            return None
        try:
            form.verify()
        except AssertionError as err:
            raise VerificationError(str(err)) from None
        equations = form.equations()
        p = form.printer
        s = Section("model_form")
        sizes = [Tex(p.doprint(v)) for _, v in sorted(form.sizes.items())]
        s.blocks.append(Paragraph("model_form_intro", {"sizes": sizes,
                                                       "checks": len(form.check_sizes)}))
        for kind in ("forward", "delta", "gradient"):
            chosen = [eq for eq in equations if eq.kind == kind]
            if not chosen:
                continue
            s.blocks.append(Paragraph(f"model_form_{kind}"))
            s.blocks.append(Equations([self._general_equation(form, eq) for eq in chosen]))
            if kind == "delta" and form.assumptions:  # Σ_k y_k = 1, which made δ^o = ŷ − y
                s.blocks.append(Paragraph("model_form_one_hot", {
                    "facts": [Tex(x) for x in form.assumption_latex()]}))
            checked = "matrix" if kind != "forward" else "identical"
            self.count(checked, len(chosen))
        if self.focus is not None:
            s.blocks.append(Paragraph("focus_intro", {
                "nodes": len(self.g.nodes), "parameters": len(self.g.parameters),
                "shown": [Tex(self.tex(x)) for x in self.focus.parameters]}))
        return s

    def _general_equation(self, form, eq) -> Equation:
        p = form.printer
        steps = []
        if eq.kind == "delta":
            q = form.quantities[eq.name]
            steps.append(Step([Tex(p.doprint(sp.Derivative(form.loss.base, q.entry)))]))
        whole = p.doprint(eq.rhs)
        if len(whole) > MAX_LINE and isinstance(eq.rhs, sp.Add):
            lines = [p.doprint(term) for term in sp.Add.make_args(eq.rhs)]
            lines = [x if not k else (f"- {x[1:].lstrip()}" if x.startswith("-") else f"+ {x}")
                     for k, x in enumerate(lines)]
            steps.append(Step([Tex(x) for x in lines]))
        else:
            steps.append(Step([Tex(whole)]))
        return Equation(f"general {eq.kind} {eq.name}", Tex(p.doprint(eq.lhs)), steps,
                        "matrix" if eq.kind != "forward" else "identical")
