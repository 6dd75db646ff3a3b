"""TOML to Graph: a spec's top level, its [values] and [training] tables (the [network] and
[graph] tables are read by network.py and graph.py), and the Spec they make."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...builders.mlp import MLP
from ...core.files import FileError, read_regular_file
from ...core.graph import Graph, GraphError
from ...core.languages import LANGUAGES
from ...core.notation import Notation
from ...core.ops import LOSSES
from .errors import MAX_FILE_BYTES, got, listing, show, subkey, suggest, type_name
from .graph import read_graph_table
from .network import read_network_table
from .tables import TableReader


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
    language: str = "en"  # the document's language (symbackprop.core.languages.LANGUAGES)
    only: list[str] | None = None  # parameters whose whole chain the notes write out

    @property
    def kind(self) -> str:
        """``"network"`` (an MLP from ``[network]``) or ``"graph"`` (a general ``[graph]``)."""
        return "network" if isinstance(self.graph, MLP) else "graph"

    @property
    def missing_values(self) -> list[str]:
        """The leaves that ``values`` does not give, in declaration order."""
        return [s.name for s in self.graph.leaves if s.name not in self.values]


_TOP_KEYS = ("title", "author", "language", "only", "network", "graph", "notation", "values",
             "training", "lint")  # [lint.symbols]: read by lint.py itself


#: Called with a model's number of parameters, counted from the spec's numbers before anything
#: is built; it raises to refuse the model (a command's own limit, with the command's words).
ParameterLimit = Callable[[int], None]


def parse_spec(text: str, source: str = "<spec>",
               refuse_parameters: ParameterLimit | None = None) -> Spec:
    """Read a spec from TOML text; ``source`` names it in error messages, and
    ``refuse_parameters`` (if given) sees the parameter count before any graph is built.

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
    r = TableReader(source)
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
    return _build(data, r, refuse_parameters or _no_limit)


def load_spec(path: str | os.PathLike[str],
              refuse_parameters: ParameterLimit | None = None) -> Spec:
    """Read a spec file (TOML, UTF-8, at most 1 MB); ``refuse_parameters`` as for parse_spec.

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "tiny.toml"
    >>> _ = p.write_text('[network]\\nsizes = [1, 1]\\n')
    >>> load_spec(p).graph.title
    'MLP 1-1'
    """
    source = os.fspath(path)
    r = TableReader(str(source))
    try:
        size = os.stat(source).st_size
        if size > MAX_FILE_BYTES:
            raise r.error("", f"the file is {size} bytes; specs larger than {MAX_FILE_BYTES} "
                          "bytes are refused")
        raw = read_regular_file(source, MAX_FILE_BYTES)  # a pipe or a device is refused
    except FileError as err:
        raise r.error("", err.reason) from None
    except OSError as err:
        raise r.error("", f"cannot read the file: {err.strerror or err}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise r.error("", f"specs larger than {MAX_FILE_BYTES} bytes are refused")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise r.error("", f"the file is not UTF-8 (byte {err.start})") from None
    return parse_spec(text, str(source), refuse_parameters)


def _no_limit(parameters: int) -> None:
    """No limit but the reader's own."""


def _build(data: dict, r: TableReader, refuse_parameters: ParameterLimit) -> Spec:
    r.table(data, "", _TOP_KEYS)
    if ("network" in data) == ("graph" in data):
        raise r.error("", "a spec needs exactly one of the tables [network] or [graph]")
    # The language first: it decides which characters a title may have (Hangul in Korean).
    language = r.choice(data["language"], "language", LANGUAGES, "language") \
        if "language" in data else "en"
    title = r.prose(data["title"], "title", language) if "title" in data else None
    author = r.prose(data["author"], "author", language) if "author" in data else ""
    if "network" in data:
        graph, notation_used = read_network_table(data, r, title, refuse_parameters)
    else:
        if "notation" in data:
            raise r.error("notation", "a [notation] table belongs to a [network] spec; a [graph] "
                          "spells its names with latex = { ... }")
        graph = read_graph_table(data["graph"], r, title, refuse_parameters)
        notation_used = None
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


# -- [values] ---------------------------------------------------------------------------------------
def _values(value: Any, graph: Graph, r: TableReader) -> dict[str, float]:
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
    # Every builder-made model names its loss (a [graph]'s loss is an expression of its own).
    loss = LOSSES.get(getattr(graph, "loss_name", None))
    if loss is not None and loss.probabilities:
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
