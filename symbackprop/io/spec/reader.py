"""TOML to Graph: the [network], [graph], [values] and [training] tables of a spec."""

from __future__ import annotations

import heapq
import keyword
import math
import os
import re
import tomllib
from dataclasses import dataclass
from typing import Any

import sympy as sp

from ...builders.mlp import MLP, mlp
from ...core import functions
from ...core.graph import Graph, GraphError
from ...core.notation import NOTATIONS, ROLES, Notation
from ...printing.latex import untypesettable
from .errors import (
    MAX_FILE_BYTES,
    MAX_LATEX_CHARS,
    MAX_LAYERS,
    MAX_NAME_CHARS,
    MAX_NAMES,
    MAX_TEXT_CHARS,
    MAX_WEIGHTS,
    MAX_WIDTH,
    SpecError,
    got,
    listing,
    show,
    subkey,
    suggest,
    type_name,
)
from .expr import FUNCTIONS, ParseFailure, failure_message, parse_text
from .spelling import latex_problem


@dataclass(frozen=True)
class Spec:
    """A loaded spec: the graph, the numbers for a worked example and the document's metadata.

    ``values`` maps leaf names (inputs, targets, parameters) to numbers and may be partial;
    ``notation`` is a preset's name, a :class:`Notation` for ``notation = "custom"``, or None
    for a general ``[graph]``. ``rounding`` is ``"display"``, ``"by_hand"`` or None.
    """

    graph: Graph
    values: dict[str, float]
    learning_rate: float | None
    digits: int | None
    title: str
    author: str
    notation: str | Notation | None
    source: str
    rounding: str | None = None
    language: str = "en"  # the document's language (symbackprop.i18n.LANGUAGES)
    only: list[str] | None = None  # parameters whose whole chain the notes write out

    @property
    def kind(self) -> str:
        """``"network"`` (an MLP from ``[network]``) or ``"graph"`` (a general ``[graph]``)."""
        return "network" if isinstance(self.graph, MLP) else "graph"

    @property
    def missing_values(self) -> list[str]:
        """The leaves that ``values`` does not give, in declaration order."""
        return [s.name for s in self.graph.leaves if s.name not in self.values]


class _Reader:
    """Typed access to the TOML data, every failure a SpecError naming the file and key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, reason: str) -> SpecError:
        return SpecError(reason, self.source, key or None)

    def table(self, value: Any, key: str, allowed: tuple[str, ...], required=()) -> dict:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {got(value)}")
        for name in value:
            if name not in allowed:
                where = f"[{key}]" if key else "the top level"
                raise self.error(
                    subkey(key, name),
                    f"unknown key{suggest(name, allowed)}; expected one of: "
                    f"{', '.join(allowed)} in {where}",
                )
        for name in required:
            if name not in value:
                raise self.error(key, f"missing key {name!r}")
        return value

    def text(self, value: Any, key: str, limit: int = MAX_TEXT_CHARS) -> str:
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {got(value)}")
        if len(value) > limit:
            raise self.error(key, f"the text is {len(value)} characters long; the limit is {limit}")
        if any(ord(c) < 32 and c not in "\t\n" or ord(c) == 127 for c in value):
            raise self.error(key, "control characters are not allowed")
        return value

    def prose(self, value: Any, key: str, language: str = "en") -> str:
        """Text that documents print (a title): refused up front if TeX cannot typeset it."""
        text = self.text(value, key)
        bad = untypesettable(text, language)
        if bad:
            raise self.error(key, f"the character {bad} cannot be typeset in the documents")
        return text

    def choice(self, value: Any, key: str, choices, what: str) -> str:
        if not isinstance(value, str):
            raise self.error(key, f"expected {what} as a string, got {got(value)}")
        if value not in choices:
            raise self.error(
                key, f"unknown {what} {show(value)}{suggest(value, choices)}; expected one "
                f"of: {', '.join(choices)}"
            )
        return value

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {got(value)}")
        if not math.isfinite(value):
            raise self.error(key, f"expected a finite number, got {show(value)}")
        return float(value)

    def array(self, value: Any, key: str, limit: int = MAX_NAMES) -> list:
        if not isinstance(value, list):
            raise self.error(key, f"expected an array, got {got(value)}")
        if len(value) > limit:
            raise self.error(key, f"{len(value)} entries; the limit is {limit}")
        return value


_TOP_KEYS = ("title", "author", "language", "only", "network", "graph", "notation", "values",
             "training", "lint")  # [lint.symbols]: read by lint.py itself


def parse_spec(text: str, source: str = "<spec>") -> Spec:
    """Read a spec from TOML text; ``source`` names it in error messages.

    >>> spec = parse_spec('''
    ... [graph]
    ... inputs = ["x"]
    ... targets = ["y"]
    ... parameters = ["w"]
    ... nodes = [{ name = "a", expr = "sigmoid(w*x)" }]
    ... loss = { name = "L", expr = "(y - a)^2 / 2" }
    ... ''', "tiny.toml")
    >>> spec.graph.expr(spec.graph.symbol("L"))
    (-a + y)**2/2
    >>> parse_spec('[network]\\nsizes = [2, 0, 1]', "seed.toml")
    Traceback (most recent call last):
    ...
    symbackprop.spec.SpecError: seed.toml: network.sizes[1]: expected a positive integer, got 0
    """
    source = str(source)
    r = _Reader(source)
    if not isinstance(text, str):
        raise r.error("", f"expected the spec as text, got {type_name(text)}")
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise r.error("", f"the spec is larger than {MAX_FILE_BYTES} bytes; refused")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise r.error("", f"invalid TOML: {err}") from None
    except RecursionError:
        raise r.error("", "invalid TOML: arrays or tables are nested too deeply") from None
    return _build(data, r)


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read a spec file (TOML, UTF-8, at most 1 MB).

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "tiny.toml"
    >>> _ = p.write_text('[network]\\nsizes = [1, 1]\\n')
    >>> load_spec(p).graph.title
    'MLP 1-1'
    """
    source = os.fspath(path)
    r = _Reader(str(source))
    try:
        size = os.stat(source).st_size
        if size > MAX_FILE_BYTES:
            raise r.error("", f"the file is {size} bytes; specs larger than {MAX_FILE_BYTES} "
                          "bytes are refused")
        with open(source, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise r.error("", f"cannot read the file: {err.strerror or err}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise r.error("", f"specs larger than {MAX_FILE_BYTES} bytes are refused")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise r.error("", f"the file is not UTF-8 (byte {err.start})") from None
    return parse_spec(text, str(source))


def _build(data: dict, r: _Reader) -> Spec:
    r.table(data, "", _TOP_KEYS)
    if ("network" in data) == ("graph" in data):
        raise r.error("", "a spec needs exactly one of the tables [network] or [graph]")
    # The language first: it decides which characters a title may have (Hangul in Korean).
    from ...core.languages import LANGUAGES

    language = r.choice(data["language"], "language", LANGUAGES, "language") \
        if "language" in data else "en"
    title = r.prose(data["title"], "title", language) if "title" in data else None
    author = r.prose(data["author"], "author", language) if "author" in data else ""
    if "network" in data:
        graph, notation_used = _network(data, r, title)
    else:
        if "notation" in data:
            raise r.error("notation", "a [notation] table belongs to a [network] spec; a [graph] "
                          "spells its names with latex = { ... }")
        graph, notation_used = _graph(r.table(data["graph"], "graph", _GRAPH_KEYS), r, title), None
    try:
        graph.validate()
    except GraphError as err:
        raise r.error("network" if "network" in data else "graph", str(err)) from None
    values = _values(data.get("values", {}), graph, r)
    learning_rate = digits = rounding = None
    if "training" in data:
        t = r.table(data["training"], "training", ("learning_rate", "digits", "rounding"))
        if "learning_rate" in t:
            learning_rate = r.number(t["learning_rate"], "training.learning_rate")
            if learning_rate <= 0:
                raise r.error("training.learning_rate",
                              f"expected a positive number, got {show(t['learning_rate'])}")
        if "digits" in t:
            d = t["digits"]
            if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 15:
                raise r.error("training.digits", f"expected an integer from 0 to 15, got {got(d)}")
            digits = d
        if "rounding" in t:
            rounding = r.choice(t["rounding"], "training.rounding", ("display", "by_hand"),
                                "rounding")
    only = None
    if "only" in data:
        names = {p.name for p in graph.parameters}
        only = [r.choice(x, f"only[{k}]", sorted(names), "parameter")
                for k, x in enumerate(r.array(data["only"], "only"))]
    return Spec(
        language=language,
        only=only,
        graph=graph,
        values=values,
        learning_rate=learning_rate,
        digits=digits,
        title=title if title is not None else graph.title,
        author=author,
        notation=notation_used,
        source=r.source,
        rounding=rounding,
    )


# -- [network] --------------------------------------------------------------------------------------
_NETWORK_KEYS = ("sizes", "activation", "loss", "bias", "notation", "latex")
_NOTATION_KEYS = ("base", "name", "keys", "latex", "description")
_BIAS = {True: True, False: False, "threshold": "threshold", "shared": "shared"}


def _network(data: dict, r: _Reader, title: str | None) -> tuple[MLP, str | Notation]:
    if isinstance(data["network"], dict) and data["network"].get("kind", "mlp") != "mlp":
        from .models import read_network  # rnn, conv1d, conv2d, attention, blocks

        graph = read_network(data["network"], r, title)
        _respell(graph, data["network"], r)
        return graph, None
    net = r.table(data["network"], "network", ("kind", *_NETWORK_KEYS), required=("sizes",))
    sizes = r.array(net["sizes"], "network.sizes", MAX_LAYERS + 1)
    if len(sizes) < 2:
        raise r.error("network.sizes", "expected at least an input and an output layer, e.g. "
                      "[2, 2, 1]")
    for k, s in enumerate(sizes):
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise r.error(subkey("network.sizes", k), f"expected a positive integer, got {got(s)}")
        if s > MAX_WIDTH:
            raise r.error(subkey("network.sizes", k), f"{s} units; the limit is {MAX_WIDTH}")
    weights = sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))
    if weights > MAX_WEIGHTS:
        raise r.error("network.sizes", f"{weights} weights; the limit is {MAX_WEIGHTS}")
    depth = len(sizes) - 1
    act = net.get("activation", "sigmoid")
    if isinstance(act, list):
        if len(act) != depth:
            raise r.error("network.activation", f"{len(act)} activations given for {depth} "
                          "layers; give one name or one per layer")
        for k, a in enumerate(act):
            r.choice(a, subkey("network.activation", k), functions.LAYER_ACTIVATIONS, "activation")
        activation: str | list[str] = list(act)
    else:
        activation = r.choice(act, "network.activation", functions.LAYER_ACTIVATIONS, "activation")
    loss = r.choice(net.get("loss", "mse"), "network.loss", tuple(functions.LOSSES), "loss")
    bias = net.get("bias", False)
    if not isinstance(bias, bool | str) or bias not in _BIAS:
        raise r.error("network.bias", f'expected true, false, "threshold" or "shared", got '
                      f"{got(bias)}")
    which = r.choice(net.get("notation", "sequential"), "network.notation",
                     (*NOTATIONS, "custom"), "notation")
    if which == "custom":
        if "notation" not in data:
            raise r.error("network.notation", 'notation = "custom" needs a [notation] table')
        notation_used: str | Notation = _custom_notation(data["notation"], r)
    else:
        if "notation" in data:
            raise r.error("notation", 'a [notation] table needs network.notation = "custom"')
        notation_used = which
    try:
        graph = mlp(sizes, activation, loss, _BIAS[bias], notation_used, title)
    except (GraphError, ValueError) as err:
        where = "notation" if which == "custom" else "network"
        raise r.error(where, str(err)) from None
    _respell(graph, net, r)
    return graph, notation_used


def _respell(graph: Graph, net: dict, r: _Reader) -> None:
    if "latex" in net:
        for name, spelling in _latex_table(net["latex"], "network.latex", r).items():
            if name not in graph:
                raise r.error(subkey("network.latex", name), f"unknown name {show(name)}"
                              f"{suggest(name, [s.name for s in graph.symbols])}")
            graph.set_latex(graph.symbol(name), spelling)


def _custom_notation(value: Any, r: _Reader) -> Notation:
    table = r.table(value, "notation", _NOTATION_KEYS)
    base = NOTATIONS[r.choice(table.get("base", "sequential"), "notation.base",
                              tuple(NOTATIONS), "notation")]
    name = r.text(table.get("name", "custom"), "notation.name", 64)
    plain: dict[str, object] = {}
    for part in ("keys", "latex"):
        if part in table:
            patterns = r.table(table[part], f"notation.{part}", ROLES)
            for role, pattern in patterns.items():
                r.text(pattern, subkey(f"notation.{part}", role), MAX_LATEX_CHARS)
            plain[part] = patterns
    if "description" in table:
        plain["description"] = r.text(table["description"], "notation.description")
    try:
        result = Notation.from_mapping(name, plain, base)
    except ValueError as err:
        raise r.error("notation", str(err)) from None
    for role in ROLES:  # every spelling the notation can produce goes into LaTeX unescaped
        where = subkey("notation.latex", role)
        # Numbers in a worked example, letters in "the general form": \pi{j} is \pi2 but \pij.
        for letters in (False, True):
            try:
                sample = (result.latex_general(role) if letters
                          else result.latex(role, i=1, j=2, l=1, n=3))
            except (KeyError, IndexError, ValueError, TypeError) as err:
                raise r.error(where, f"the pattern cannot be filled in: {err}") from None
            problem = latex_problem(sample)
            if problem:
                raise r.error(where, f"{problem} (in {show(sample)})")
    return result


def _latex_table(value: Any, key: str, r: _Reader) -> dict[str, str]:
    if not isinstance(value, dict):
        raise r.error(key, f"expected a table of name = LaTeX spelling, got {got(value)}")
    if len(value) > MAX_NAMES:
        raise r.error(key, f"{len(value)} entries; the limit is {MAX_NAMES}")
    for name, spelling in value.items():
        problem = latex_problem(spelling)
        if problem:
            raise r.error(subkey(key, name), problem)
    return value


# -- [graph] ----------------------------------------------------------------------------------------
_GRAPH_KEYS = ("inputs", "targets", "parameters", "nodes", "loss", "one_hot", "latex")
# A declared name must read as one name in an expression: a letter, then letters, digits or _.
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_KIND_WORD = {"inputs": "an input", "targets": "a target", "parameters": "a parameter",
              "nodes": "a node", "loss": "the loss"}


def _graph(g: dict, r: _Reader, title: str | None) -> Graph:
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
        for name, spelling in _latex_table(g["latex"], "graph.latex", r).items():
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


def _entry(node: dict, key: str, r: _Reader, declare, kind: str):
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


def _topological(entries, exprs, symbols, r: _Reader) -> list[str]:
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


# -- [values] ---------------------------------------------------------------------------------------
def _values(value: Any, graph: Graph, r: _Reader) -> dict[str, float]:
    table = r.table(value, "values", tuple(value) if isinstance(value, dict) else ())
    leaves = {s.name for s in graph.leaves}
    out: dict[str, float] = {}
    for name, v in table.items():
        key = subkey("values", name)
        if name not in graph:
            raise r.error(key, f"unknown name {show(name)}{suggest(name, leaves)}; expected "
                          f"one of: {listing(s.name for s in graph.leaves)}")
        if name not in leaves:
            raise r.error(key, f"{show(name)} is computed by the graph; give values only for "
                          "inputs, targets and parameters")
        out[name] = r.number(v, key)
    if isinstance(graph, MLP) and graph.loss_name in ("bce", "cross_entropy"):
        # Cross-entropies are losses of probabilities: a target outside [0, 1] has no meaning
        # (and bce's minimum is then not at the target).
        for s in graph.targets:
            if s.name in out and not 0 <= out[s.name] <= 1:
                raise r.error(subkey("values", s.name), f"a {graph.loss_name} target is a "
                              f"probability from 0 to 1, got {show(out[s.name])}")
    for group in graph.one_hot_groups:
        names = [s.name for s in group]
        for n in names:
            if n in out and out[n] < 0:
                raise r.error(subkey("values", n), f"a one-hot target is a probability, at least "
                              f"0, got {show(out[n])}")
        if all(n in out for n in names):
            total = sum(out[n] for n in names)
            if abs(total - 1) > 1e-9:
                raise r.error("values", f"the one-hot targets {', '.join(names)} must sum to 1, "
                              f"got {total:g}")
    return out
