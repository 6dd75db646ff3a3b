"""Random spec files for the fuzz campaign (tests/fuzzing.py): every model kind, bad fields in
about 30% of them, values from 1e-300 to 1e300.

``draw_spec(seed, index)`` is a pure function of its two numbers (its own ``random.Random``), so
a campaign is reproducible spec by spec and a failure is named by (seed, index). A spec is drawn
as TOML tables first; its [values] need the leaf names the reader will declare, so the drawn
structure is read once with ``parse_spec`` (that read is part of what is tested: the campaign
runs it inside its hang guard), then values are drawn for those names and the result is turned
back into TOML text, a bad field sometimes put in on the way.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass

KINDS = ("mlp", "graph", "rnn", "conv1d", "conv2d", "attention", "blocks")
ACTS = ("sigmoid", "tanh", "relu", "leaky_relu", "softplus", "gelu", "gelu_erf", "silu",
        "identity", "linear")
LOSSES = ("mse", "sse", "half_sse", "bce", "cross_entropy")
FUNCTIONS = ("abs", "exp", "gelu", "gelu_erf", "leaky_relu", "log", "relu", "sigmoid", "silu",
             "softplus", "sqrt", "tanh")
#: Names a graph may declare, hostile ones included: numpy's, math's and SymPy's names and
#: names that differ from a function's by an underscore.
NAMES = ("x", "w", "y", "b", "a1", "w_2", "Q", "E", "I", "S", "N", "pi", "e", "oo", "zoo", "nan",
         "inf", "Heaviside", "Integer", "Symbol", "np", "numpy", "sympy", "math", "exp_", "log_",
         "x_", "sigmoid_", "relu1", "dL_dw", "lambda_", "Abs", "Add", "sum", "range", "print",
         "W" * 64)
#: Values at the edges of float64.
EDGES = (0.0, -0.0, 1.0, -1.0, 1e-300, -1e-300, 5e-324, 1e300, -1e300, 1e-3, 1e3, -1e3, 1e12,
         -1e12, 0.5, -0.3, 2.2250738585072014e-308, 1.7976931348623157e308)
NUMBERS = ("0", "1", "2", "0.5", "1e-3", "1e12", "1e-30", "3", "0e0", "1e1")
BAD_SHARE = 0.3


@dataclass(frozen=True)
class Spec:
    """One drawn spec: its text, model kind, the bad field put in (None if none) and how its
    values were drawn (plain, edge, wide)."""

    seed: int
    index: int
    kind: str
    text: str
    bad: str | None
    regime: str

    @property
    def name(self) -> str:
        return f"seed {self.seed} spec {self.index} ({self.kind}, {self.regime}" + (
            f", bad: {self.bad})" if self.bad else ")")


# -- TOML out ---------------------------------------------------------------------------------------
def toml_value(v) -> str:
    """A Python value as TOML (floats that TOML spells specially included)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def toml_text(doc: dict) -> str:
    """A document of top-level scalars and tables as TOML text."""
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in doc.items()
             if not isinstance(v, dict)]
    for name, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{name}]")
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


# -- structures -------------------------------------------------------------------------------------
def _head(rng: random.Random) -> tuple[str, str]:
    """(output activation, loss), mostly pairs that fit, sometimes ones that do not."""
    loss = rng.choice(LOSSES)
    if rng.random() < 0.85:
        out = {"cross_entropy": "softmax", "bce": rng.choice(("sigmoid", "softmax"))}.get(
            loss, rng.choice((*ACTS, "softmax")))
    else:
        out = rng.choice((*ACTS, "softmax"))
    return out, loss


def _mlp(rng: random.Random) -> dict:
    depth = rng.randint(1, 3)
    sizes = [rng.randint(1, 4) for _ in range(depth + 1)]
    out, loss = _head(rng)
    if out == "softmax":
        sizes[-1] = max(2, sizes[-1])
    acts = [rng.choice(ACTS) for _ in range(depth - 1)] + [out]
    net = {"sizes": sizes, "activation": acts if rng.random() < 0.7 else out, "loss": loss,
           "bias": rng.choice((False, True, "threshold", "shared")),
           "notation": rng.choice(("sequential", "layered", "indexed", "matrix"))}
    return {"network": net}


def _expr(rng: random.Random, leaves: list[str], depth: int = 0) -> str:
    if depth >= 3 or rng.random() < 0.3:
        return rng.choice(leaves) if rng.random() < 0.75 else rng.choice(NUMBERS)
    pick = rng.random()
    inner = _expr(rng, leaves, depth + 1)
    if pick < 0.35:
        return f"({inner}) {rng.choice('+-*/')} ({_expr(rng, leaves, depth + 1)})"
    if pick < 0.45:
        return f"({inner})^{rng.choice(('2', '0.5', '-1', '3', '(1/3)'))}"
    if pick < 0.9:
        f = rng.choice(FUNCTIONS)
        slope = f", {rng.choice(('0.1', '0.2', '1e-3'))}" if f == "leaky_relu" and \
            rng.random() < 0.3 else ""
        return f"{f}({inner}{slope})"
    return f"-({inner})"


def _graph(rng: random.Random) -> dict:
    pool = rng.sample(NAMES, 6)
    n_in, n_par = rng.randint(0, 2), rng.randint(1, 2)
    inputs, params, targets = pool[:n_in], pool[n_in:n_in + n_par], [pool[5]]
    nodes, known = [], inputs + params
    for k in range(rng.randint(1, 4)):
        nodes.append({"name": f"n{k}", "expr": _expr(rng, known)})
        known = known + [f"n{k}"]
    last = nodes[-1]["name"]
    loss = rng.choice((f"({targets[0]} - {last})^2", f"({last})^2 / 2",
                       f"-{targets[0]} * log(sigmoid({last})) - (1 - {targets[0]}) * "
                       f"log(1 - sigmoid({last}))", _expr(rng, [last, targets[0]])))
    return {"graph": {"inputs": inputs, "targets": targets, "parameters": params,
                      "nodes": nodes, "loss": {"name": "L", "expr": loss}}}


def _rnn(rng: random.Random) -> dict:
    out, loss = _head(rng)
    outputs = rng.randint(2 if out == "softmax" else 1, 2)
    return {"network": {"kind": "rnn", "inputs": rng.randint(1, 2), "hidden": rng.randint(1, 3),
                        "outputs": outputs, "steps": rng.randint(1, 3), "output_activation": out,
                        "loss": loss, "loss_at": rng.choice(("every_step", "last")),
                        "bias": rng.random() < 0.7,
                        "notation": rng.choice(("goodfellow", "karpathy"))}}


def _conv(rng: random.Random, two: bool) -> dict:
    out, loss = _head(rng)
    net: dict = {"kind": "conv2d" if two else "conv1d"}
    if two:
        shape = [rng.randint(1, 4), rng.randint(1, 4)]
        net["shape"] = shape
        net["kernel"] = [rng.randint(1, shape[0]), rng.randint(1, shape[1])]
    else:
        net["length"] = rng.randint(1, 6)
        net["kernel"] = rng.randint(1, net["length"])
    net.update(activation=rng.choice(ACTS), outputs=rng.randint(2 if out == "softmax" else 1, 2),
               output_activation=out, loss=loss, bias=rng.random() < 0.7)
    if rng.random() < 0.4:
        net.update(in_channels=rng.randint(1, 2), out_channels=rng.randint(1, 2))
    return {"network": net}


def _attention(rng: random.Random) -> dict:
    net = {"kind": "attention", "keys": rng.randint(1, 3), "d": rng.randint(1, 3),
           "loss": rng.choice(("mse", "sse", "half_sse")), "projections": rng.random() < 0.4}
    if rng.random() < 0.5:
        net["d_v"] = rng.randint(1, 3)
    if net["projections"] and rng.random() < 0.5:
        net["d_in"] = rng.randint(1, 3)
    return {"network": net}


def _block(rng: random.Random, depth: int, width: int | None) -> dict:
    """A block; ``width`` is the width it must keep (inside a residual), None for any."""
    pick = rng.random()
    if pick < 0.5 or depth >= 2:
        block = {"type": "dense", "units": width or rng.randint(1, 3),
                 "activation": rng.choice((*ACTS, "softmax"))}
        if rng.random() < 0.3:
            block["bias"] = rng.random() < 0.5
        return block
    if pick < 0.8:
        block = {"type": rng.choice(("layer_norm", "batch_norm"))}
        if rng.random() < 0.3:
            block["affine"] = rng.random() < 0.5
        return block
    return {"type": "residual", "blocks": [_block(rng, depth + 1, width or 0)
                                           for _ in range(rng.randint(1, 2))]}


def _blocks(rng: random.Random) -> dict:
    inputs = rng.randint(1, 3)
    width, blocks = inputs, []
    for _ in range(rng.randint(1, 3)):
        block = _block(rng, 0, width if rng.random() < 0.9 else None)
        blocks.append(block)
        width = block.get("units", width)
    out, loss = _head(rng)
    blocks.append({"type": "dense", "units": 2 if out == "softmax" else rng.randint(1, 2),
                   "activation": out})
    norm = "batch_norm" in json.dumps(blocks)
    return {"network": {"kind": "blocks", "inputs": inputs,
                        "batch": rng.randint(2 if norm and rng.random() < 0.9 else 1, 3),
                        "blocks": blocks, "loss": loss}}


STRUCTURES = {"mlp": _mlp, "graph": _graph, "rnn": _rnn, "attention": _attention,
              "conv1d": lambda rng: _conv(rng, False), "conv2d": lambda rng: _conv(rng, True),
              "blocks": _blocks}


# -- values -----------------------------------------------------------------------------------------
def _value(rng: random.Random, regime: str) -> float:
    if regime == "wide":
        return rng.choice((1, -1)) * 10 ** rng.uniform(-300, 300)
    if regime == "edge" and rng.random() < 0.3:
        return rng.choice(EDGES)
    return round(rng.uniform(-2, 2), rng.choice((1, 2, 3, 6)))


def draw_values(rng: random.Random, graph, regime: str) -> dict[str, float]:
    """A value for every leaf of ``graph``; targets fit for the loss in the plain regime."""
    values = {s.name: _value(rng, regime) for s in graph.leaves}
    targets = [s.name for s in graph.targets]
    if regime == "plain" and targets:
        hot = rng.randrange(len(targets))
        if graph.one_hot_groups:
            for group in graph.one_hot_groups:
                one = rng.choice(group)
                values.update({t.name: float(t == one) for t in group})
        elif getattr(graph, "loss_name", None) == "cross_entropy":
            values.update({t: float(k == hot) for k, t in enumerate(targets)})
        elif "log" in str(graph.expr(graph.loss_symbol)):
            values.update({t: round(rng.uniform(0, 1), 2) for t in targets})
    return values


# -- bad fields ------------------------------------------------------------------------------------
BAD_NUMBERS = (0, -1, 10**9, 10**30, 2.5, "3", True, [2], float("nan"), float("inf"), -0.0)
BAD_VALUES = ("text", float("nan"), float("inf"), float("-inf"), [1.0], True, 10**30,
              {"a": 1}, 1e308 * 10)


def _spoil(rng: random.Random, doc: dict) -> str:
    """Put one bad field into ``doc``; returns what was done."""
    table = doc.get("network") or doc.get("graph")
    pick = rng.randrange(12)
    if pick == 0 and doc.get("values"):
        name = rng.choice(list(doc["values"]))
        doc["values"][name] = rng.choice(BAD_VALUES)
        return f"values.{name} bad"
    if pick == 1:
        doc.setdefault("values", {})[rng.choice(("w99", "nope", "__class__", ""))] = 0.5
        return "unknown value name"
    if pick == 2:
        table[rng.choice(("size", "kind2", "lambda", "units"))] = 1
        return "unknown key"
    if pick == 3 and table:
        key = rng.choice(list(table))
        del table[key]
        return f"missing {key}"
    if pick == 4 and "graph" in doc:
        node = rng.choice(doc["graph"]["nodes"])
        node["expr"] = rng.choice(("x.__class__", "(", "n0", "exp(exp(40))", "log(-1)",
                                   "2^" * 40 + "2", "(" * 60 + "1" + ")" * 60, "1e400",
                                   "__import__('os')", "sqrt(-2)", "w[0]", "lambda: 1",
                                   "x if x else w", "'a'", "(-2)^(1/3)", "1/0", "0^-1"))
        return f"bad expr {node['expr'][:30]!r}"
    if pick == 5:
        doc["title"] = rng.choice(("\x1b[31mred", "a" * 600, "tab\there", "\u2028line",
                                   "\ud55c\uad6d\uc5b4", "%&$#_{}\\", ""))
        return "title"
    if pick == 6:
        doc["training"] = {rng.choice(("learning_rate", "digits", "rounding", "speed")):
                           rng.choice((-1, 0, 99, "fast", float("nan"), 1e300, 16))}
        return f"training {doc['training']}"
    if pick == 7 and "network" in doc:
        net = doc["network"]
        key = rng.choice([k for k, v in net.items() if isinstance(v, str)] or ["kind"])
        net[key] = rng.choice(("sigmod", "lstm", "", "softmax", "SIGMOID", "cross_entropy", 1))
        return f"network.{key} = {net[key]!r}"
    if pick == 8 and "network" in doc:
        net = doc["network"]
        numeric = [k for k, v in net.items() if isinstance(v, int) and not isinstance(v, bool)
                   or k in ("sizes", "shape", "kernel")]
        key = rng.choice(numeric or ["inputs"])
        bad = rng.choice(BAD_NUMBERS)
        if isinstance(net.get(key), list) and net[key]:
            net[key] = list(net[key])
            net[key][rng.randrange(len(net[key]))] = bad
        else:
            net[key] = bad
        return f"network.{key} gets {bad!r}"
    if pick == 9 and doc.get("network", {}).get("kind") == "blocks":
        blocks = doc["network"]["blocks"]
        blocks.insert(0, rng.choice((
            {"type": "dense", "units": 0}, {"type": "conv"}, {"type": "dense"},
            {"type": "residual", "blocks": []}, {"type": "batch_norm", "units": 2},
            {"type": "residual", "blocks": [{"type": "residual", "blocks": [
                {"type": "residual", "blocks": [{"type": "residual", "blocks": [
                    {"type": "residual", "blocks": [{"type": "residual", "blocks": [
                        {"type": "dense", "units": 1}]}]}]}]}]}]}, "dense")))
        return "bad block"
    if pick == 10 and "graph" in doc:
        g = doc["graph"]
        g[rng.choice(("inputs", "parameters", "targets"))] = rng.choice((
            ["for"], ["sigmoid"], ["x", "x"], [], "x", ["n0"], ["1x"], ["a" * 65], ["L"]))
        return "bad declaration"
    return "truncated"  # the TOML itself broken: cut by the caller


def draw_spec(seed: int, index: int, parse=None) -> Spec:
    """Spec number ``index`` of the campaign ``seed``; ``parse`` reads the structure's text to a
    spec (so that values can name its leaves), None to leave [values] out."""
    rng = random.Random(f"{seed}:{index}")
    kind = KINDS[index % len(KINDS)]
    doc = STRUCTURES[kind](rng)
    regime = rng.choices(("plain", "edge", "wide"), (0.6, 0.25, 0.15))[0]
    if parse is not None:
        try:
            graph = parse(toml_text(doc)).graph
        except ValueError:
            graph = None  # a structure the reader refuses (a size over a limit): no values
        if graph is not None:
            doc["values"] = draw_values(rng, graph, regime)
            if rng.random() < 0.05 and doc["values"]:
                del doc["values"][rng.choice(list(doc["values"]))]
    bad = None
    if rng.random() < BAD_SHARE:
        bad = _spoil(rng, doc)
    text = toml_text(doc)
    if bad == "truncated":
        text = text[: rng.randrange(1, len(text))]
    return Spec(seed, index, kind, text, bad, regime)

