"""The [graph] table of a spec: inputs, targets, parameters, nodes and the loss, each node's
expression read by the safe expression reader, then ordered so that each follows what it uses."""

from __future__ import annotations

import heapq
import keyword
import re
from collections.abc import Callable
from typing import Any

import sympy as sp

from ...core.graph import Graph, GraphError
from .errors import MAX_NAME_CHARS, got, show, subkey, suggest
from .expr import FUNCTIONS, ParseFailure, failure_message, parse_text
from .spelling import latex_problem
from .tables import TableReader, latex_table

_GRAPH_KEYS = ("inputs", "targets", "parameters", "nodes", "loss", "one_hot", "latex")
# A declared name must read as one name in an expression: a letter, then letters, digits or _.
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_KIND_WORD = {"inputs": "an input", "targets": "a target", "parameters": "a parameter",
              "nodes": "a node", "loss": "the loss"}


def read_graph_table(value: Any, r: TableReader, title: str | None,
                     refuse_parameters: Callable[[int], None]) -> Graph:
    """The general graph a spec's [graph] table declares, its nodes in an order that
    computes each after the nodes it uses; ``refuse_parameters`` sees the number of parameters
    before any expression is read."""
    g = r.table(value, "graph", _GRAPH_KEYS)
    for key in ("parameters", "loss"):
        if key not in g:
            raise r.error("graph", f"missing key {key!r}")
    declared: dict[str, str] = {}  # name -> the key where it was declared
    kinds: dict[str, str] = {}

    def declare(name: Any, key: str, kind: str) -> str:
        if not isinstance(name, str):
            raise r.error(key, f"expected a name as a string, got {got(name)}")
        if len(name) > MAX_NAME_CHARS:
            raise r.error(key, f"the name is {len(name)} characters long; the limit is "
                          f"{MAX_NAME_CHARS}")
        if not _IDENTIFIER.match(name):
            raise r.error(key, f"invalid name {show(name)}: use a letter, then letters, digits "
                          "or _ (spell it with latex = { ... })")
        if keyword.iskeyword(name):
            raise r.error(key, f"{show(name)} is a Python keyword; choose another name")
        if name in FUNCTIONS or name == "softmax":
            raise r.error(key, f"{show(name)} is the name of a function; choose another name")
        if name in declared:
            raise r.error(key, f"{show(name)} is already declared as {_KIND_WORD[kinds[name]]} "
                          f"({declared[name]})")
        declared[name], kinds[name] = key, kind
        return name

    leaves: dict[str, list[str]] = {}
    for kind in ("inputs", "targets", "parameters"):
        items = r.array(g.get(kind, []), f"graph.{kind}")
        leaves[kind] = [declare(n, subkey(f"graph.{kind}", k), kind) for k, n in enumerate(items)]
    if not leaves["parameters"]:
        raise r.error("graph.parameters", "expected at least one parameter")
    refuse_parameters(len(leaves["parameters"]))

    entries: list[tuple[str, str, str, str | None]] = []  # (name, expr text, key, latex)
    for k, node in enumerate(r.array(g.get("nodes", []), "graph.nodes")):
        key = subkey("graph.nodes", k)
        node = r.table(node, key, ("name", "expr", "latex"), required=("name", "expr"))
        entries.append(_entry(node, key, r, declare, "nodes"))
    loss = _entry(r.table(g["loss"], "graph.loss", ("name", "expr", "latex"),
                          required=("name", "expr")), "graph.loss", r, declare, "loss")

    symbols = {name: sp.Symbol(name, real=True) for name in declared}
    exprs: dict[str, sp.Expr] = {}
    for name, text, key, _latex in [*entries, loss]:
        try:
            exprs[name] = parse_text(text, symbols)
        except ParseFailure as err:
            raise r.error(subkey(key, "expr"), failure_message(err, text)) from None
    loss_symbol = symbols[loss[0]]
    for name, _text, key, _latex in entries:
        if loss_symbol in exprs[name].free_symbols:
            raise r.error(subkey(key, "expr"), f"uses the loss {show(loss[0])}; the loss is the "
                          "last node and feeds no other")
    if loss_symbol in exprs[loss[0]].free_symbols:
        raise r.error("graph.loss.expr", "the loss uses itself")
    order = _topological(entries, exprs, symbols, r)

    latex = {name: spelling for name, _t, _k, spelling in [*entries, loss] if spelling}
    if "latex" in g:
        for name, spelling in latex_table(g["latex"], "graph.latex", r).items():
            if name not in declared:
                raise r.error(subkey("graph.latex", name), f"unknown name {show(name)}"
                              f"{suggest(name, declared)}")
            if name in latex:
                raise r.error(subkey("graph.latex", name), "a LaTeX spelling is already given "
                              f"in {declared[name]}")
            latex[name] = spelling

    graph = Graph(title=title or "graph")
    try:
        for kind, method in (("inputs", graph.input), ("targets", graph.target),
                             ("parameters", graph.parameter)):
            for name in leaves[kind]:
                method(name, latex=latex.get(name))
        for name in order:
            graph.node(name, exprs[name], latex=latex.get(name))
        graph.loss(loss[0], exprs[loss[0]], latex=latex.get(loss[0]))
    except GraphError as err:
        raise r.error("graph", str(err)) from None
    if "one_hot" in g:
        group = r.array(g["one_hot"], "graph.one_hot")
        if len(group) < 2:
            raise r.error("graph.one_hot", "expected at least two targets")
        for k, name in enumerate(group):
            key = subkey("graph.one_hot", k)
            if not isinstance(name, str) or kinds.get(name) != "targets":
                raise r.error(key, f"expected the name of a target, got {got(name)}")
            if name in group[:k]:
                raise r.error(key, f"{show(name)} is listed twice")
        graph.targets_sum_to_one([graph.symbol(n) for n in group])
    return graph


def _entry(node: dict, key: str, r: TableReader, declare, kind: str):
    name = declare(node["name"], subkey(key, "name"), kind)
    text = node["expr"]
    if not isinstance(text, str):
        raise r.error(subkey(key, "expr"), f"expected an expression as a string, got {got(text)}")
    spelling = node.get("latex")
    if spelling is not None:
        problem = latex_problem(spelling)
        if problem:
            raise r.error(subkey(key, "latex"), problem)
    return name, text, key, spelling


def _topological(entries, exprs, symbols, r: TableReader) -> list[str]:
    """Node names ordered so that each comes after the nodes it uses (file order otherwise)."""
    index = {name: k for k, (name, *_rest) in enumerate(entries)}
    uses = {
        name: {s.name for s in exprs[name].free_symbols if s.name in index} for name in index
    }
    users: dict[str, list[str]] = {name: [] for name in index}
    for name, deps in uses.items():
        for dep in deps:
            users[dep].append(name)
    waiting = {name: len(deps) for name, deps in uses.items()}
    ready = [k for k, (name, *_rest) in enumerate(entries) if not waiting[name]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = entries[heapq.heappop(ready)][0]
        order.append(name)
        for user in users[name]:
            waiting[user] -= 1
            if not waiting[user]:
                heapq.heappush(ready, index[user])
    if len(order) < len(entries):
        left = {name for name in index if waiting[name]}
        start = min(left, key=index.__getitem__)
        path, seen = [start], {start: 0}
        while True:
            nxt = min((d for d in uses[path[-1]] if d in left), key=index.__getitem__)
            if nxt in seen:
                cycle = [*path[seen[nxt]:], nxt]
                break
            seen[nxt] = len(path)
            path.append(nxt)
        first = entries[index[cycle[0]]][2]
        raise r.error(subkey(first, "expr"), "the nodes form a cycle (each uses the next): "
                      + " -> ".join(cycle))
    return order
