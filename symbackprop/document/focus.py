"""Which few of a model's unrolled equations its notes show: the representatives (:class:`Focus`).

A model built by :mod:`symbackprop.builders` (an RNN, a convolution, attention, a network of
blocks) has a general form, which its notes give first; the unrolled instance that follows shows
representatives: the first two entries of every indexed quantity, the last two steps of every
named δ (where a backward recursion starts), and one parameter of every weight matrix. The
others are the same general equations at other indices.

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

from ..core.graph import Graph

__all__ = ["Focus", "families", "SHOWN_ENTRIES"]

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
