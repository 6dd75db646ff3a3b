"""The Graph API: declaring leaves, nodes and a loss; validation; structure queries."""

from __future__ import annotations

import pytest
import sympy as sp

import symbackprop as sb
from symbackprop import Graph, GraphError, Kind


def small_graph() -> tuple[Graph, dict[str, sp.Symbol]]:
    g = Graph(title="small")
    x = g.input("x")
    w = g.parameter("w")
    y = g.target("y")
    b = g.parameter("b")
    z = g.node("z", w * x + b)
    a = g.node("a", sb.sigmoid(z))
    L = g.loss("L", (y - a) ** 2)
    return g, dict(x=x, w=w, y=y, b=b, z=z, a=a, L=L)


def test_declarations_return_real_symbols_named_as_declared():
    _, s = small_graph()
    for name, symbol in s.items():
        assert isinstance(symbol, sp.Symbol)
        assert symbol.name == name
        assert symbol.is_real


def test_kinds_in_declaration_order():
    g, s = small_graph()
    assert g.inputs == [s["x"]]
    assert g.targets == [s["y"]]
    assert g.parameters == [s["w"], s["b"]]
    assert g.nodes == [s["z"], s["a"], s["L"]]
    assert g.leaves == [s["x"], s["w"], s["y"], s["b"]]
    assert g.symbols == [s[k] for k in ("x", "w", "y", "b", "z", "a", "L")]
    assert g.loss_symbol == s["L"]
    assert g.kind(s["x"]) is Kind.INPUT
    assert g.kind("w") is Kind.PARAMETER
    assert g.kind(s["y"]) is Kind.TARGET
    assert g.kind("z") is Kind.NODE
    assert g.kind("L") is Kind.LOSS


def test_expressions_and_forward_equations():
    g, s = small_graph()
    assert g.expr(s["z"]) == s["w"] * s["x"] + s["b"]
    assert g.expr("a") == sb.sigmoid(s["z"])
    assert g.forward_equations() == [
        (s["z"], s["w"] * s["x"] + s["b"]),
        (s["a"], sb.sigmoid(s["z"])),
        (s["L"], (s["y"] - s["a"]) ** 2),
    ]
    with pytest.raises(GraphError, match="no expression"):
        g.expr(s["x"])


def test_symbol_lookup():
    g, s = small_graph()
    assert g.symbol("w") is s["w"]
    assert g.symbol(s["w"]) is s["w"]
    assert "w" in g and s["w"] in g and "nope" not in g
    with pytest.raises(GraphError, match="'nope'"):
        g.symbol("nope")
    # A symbol of the same name but other assumptions is not this graph's symbol.
    with pytest.raises(GraphError, match="not a symbol of this graph"):
        g.symbol(sp.Symbol("w"))


def test_undeclared_symbol_is_named():
    g = Graph()
    x = g.input("x")
    q, r = sp.symbols("q r", real=True)
    with pytest.raises(GraphError, match=r"undeclared symbols: q, r"):
        g.node("z", q * x + r)
    # nothing was declared by the failed call
    assert "z" not in g
    g.node("z", 2 * x)


def test_duplicate_name():
    g = Graph()
    g.input("x")
    with pytest.raises(GraphError, match="'x' is declared twice"):
        g.parameter("x")
    with pytest.raises(GraphError, match="declared twice"):
        g.node("x", sp.Integer(1))


@pytest.mark.parametrize(
    "name", ["", "1x", "a b", "x-y", "_x", "x\n", "δ", "x" * 65, "x;import os", None, 3]
)
def test_invalid_names(name):
    g = Graph()
    with pytest.raises(GraphError, match="invalid name"):
        g.input(name)


@pytest.mark.parametrize("name", ["x", "x1", "w_12^(1)", "W^[2]_11", "h1'", "A.b,c"])
def test_valid_names_with_index_punctuation(name):
    g = Graph()
    assert g.input(name).name == name


@pytest.mark.parametrize("bad", ["x*2", b"x", None, True, [1], 1j])
def test_expressions_must_be_sympy_or_numbers(bad):
    g = Graph()
    g.input("x")
    with pytest.raises(GraphError, match="must be a SymPy expression or a number"):
        g.node("z", bad)


def test_numbers_become_sympy_numbers():
    g = Graph()
    assert g.expr(g.node("c", 3)) == sp.Integer(3)
    assert g.expr(g.node("d", 0.5)) == sp.Float(0.5)


def test_missing_loss():
    g = Graph()
    w = g.parameter("w")
    g.node("z", 2 * w)
    with pytest.raises(GraphError, match="no loss"):
        _ = g.loss_symbol
    with pytest.raises(GraphError, match="no loss"):
        sb.derive(g)


def test_constant_loss_is_refused():
    g = Graph()
    g.parameter("w")
    g.loss("L", sp.Integer(2))
    with pytest.raises(GraphError, match="constant"):
        sb.derive(g)


def test_nothing_after_the_loss():
    g = Graph()
    w = g.parameter("w")
    g.loss("L", w**2)
    with pytest.raises(GraphError, match="loss is already set"):
        g.parameter("v")


def test_parents_and_children():
    g = Graph()
    x = g.input("x")
    w = g.parameter("w")
    a = g.node("a", w * x)
    b = g.node("b", sb.tanh(a))
    c = g.node("c", a * b + w)
    L = g.loss("L", c**2)
    assert g.parents(c) == [w, a, b]
    assert g.parents(x) == []
    assert g.children(w) == [a, c]
    assert g.children(a) == [b, c]
    assert g.children("b") == [c]
    assert g.children(L) == []


def test_expand_removes_every_node_symbol():
    g, s = small_graph()
    expanded = g.expand(s["L"])
    assert expanded == (s["y"] - sb.sigmoid(s["w"] * s["x"] + s["b"])) ** 2
    assert expanded.free_symbols <= set(g.leaves)
    assert g.expand(s["a"] * s["z"]) == sb.sigmoid(s["w"] * s["x"] + s["b"]) * (
        s["w"] * s["x"] + s["b"]
    )
    assert g.expand(s["w"]) == s["w"]


def test_latex_names():
    g = Graph()
    x = g.input("x1", latex="x_{1}")
    w = g.parameter("w")
    assert g.latex_name(x) == "x_{1}"
    assert g.latex_name(w) is None
    g.set_latex(w, r"\omega")
    assert g.latex_name("w") == r"\omega"


def test_targets_sum_to_one():
    g = Graph()
    y1, y2 = g.target("y1"), g.target("y2")
    x = g.input("x")
    g.targets_sum_to_one()
    assert g.one_hot_groups == [(y1, y2)]
    with pytest.raises(GraphError, match="not a target"):
        g.targets_sum_to_one([y1, x])


def test_default_delta_nodes_are_all_nodes_but_the_loss():
    g, s = small_graph()
    assert g.delta_nodes == [s["z"], s["a"]]
    assert g.delta_key(s["z"]) is None
    assert g.delta_latex(s["z"]) is None


# -- product(): Mul's result without its flattening, where nothing combines -------------------------
def _factor_pool():
    a, b, c = sp.symbols("a b c", real=True)
    p = sp.Symbol("p", positive=True)
    return a, b, c, p, [
        a, b, c, p, a**2, 1 / b, sp.exp(a), sp.exp(c), 1 - a, a - b, sp.tanh(c),
        sp.Rational(-3, 2), sp.Integer(2), sp.pi,
        sp.sqrt(2), sp.Float(0.5), sp.I, sp.oo, sp.zoo, sp.Abs(a), (a * b) ** sp.Rational(1, 2),
        sp.Symbol("n", commutative=False), sp.Add(a, b, evaluate=False),
        sp.Mul(-1, 2, a - b, evaluate=False),
    ]


def test_product_is_exactly_mul_for_every_pair_of_a_product_and_a_symbol():
    # Exactly: the same args in the same order, since cached and compared expressions must agree.
    import itertools

    from symbackprop.core.graph import product

    a, b, c, p, pool = _factor_pool()
    products = {sp.Mul(*f) for k in (1, 2) for f in itertools.combinations(pool, k)}
    products |= {sp.Mul(*f) for f in itertools.combinations(pool[4:14], 3)}
    from symbackprop.derivation.reverse import _DeltaSymbol

    for d in (_DeltaSymbol("delta_z", real=True), _DeltaSymbol("A", real=True)):
        for s in (a, b, p, sp.Dummy("a")):
            assert sp.srepr(product(d, s)) == sp.srepr(d * s) == sp.srepr(product(s, d))
    n, m2 = sp.symbols("n m", commutative=False)
    assert sp.srepr(product(m2, n)) == sp.srepr(m2 * n) and sp.srepr(product(a, n)) == sp.srepr(a * n)
    for m in products:
        for s in (a, b, c, p):
            for x, y in ((m, s), (s, m)):
                got, want = product(x, y), x * y
                assert got == want and sp.srepr(got) == sp.srepr(want), (x, y)


def test_sum_of_products_is_exactly_add_for_sums_of_every_shape():
    # Exactly as Add builds it: same args, same order (the fast path sorts by names only when
    # every term is a product of two commuting symbols of one shape, plus up to two biases).
    import random

    from symbackprop.core.graph import product, sum_of_products
    from symbackprop.derivation.reverse import _DeltaSymbol

    real = [sp.Symbol(f"w{k}", real=True) for k in range(12)]
    plain = sp.symbols("a0:6")
    positive = sp.symbols("p0:3", positive=True)
    deltas = [_DeltaSymbol(f"delta_z{k}", real=True) for k in range(4)]
    n = sp.Symbol("n", commutative=False)
    rng = random.Random(7)
    pools = [real, real + list(plain), real + list(positive), real + deltas]
    for trial in range(300):
        pool = pools[trial % len(pools)]
        terms = [product(*rng.sample(pool, 2)) for _ in range(rng.randrange(3, 9))]
        extra = rng.randrange(6)
        if extra == 1:
            terms.append(rng.choice(pool))  # a bias
        elif extra == 2:
            terms += [-rng.choice(pool), rng.choice(pool)]  # −b and b (maybe the same symbol)
        elif extra == 3:
            terms.append(terms[0])  # a repeated term combines
        elif extra == 4:
            terms.append(rng.choice([sp.Integer(2), n * real[0], real[1] ** 2, 3 * real[2]]))
        rng.shuffle(terms)
        got, want = sum_of_products(terms), sp.Add(*terms)
        assert got == want and sp.srepr(got) == sp.srepr(want), terms


def test_declared_symbols_are_sympys_own_real_symbols():
    _, s = small_graph()
    for name, symbol in s.items():
        made = sp.Symbol(name, real=True)
        assert symbol == made and hash(symbol) == hash(made) and sp.srepr(symbol) == sp.srepr(made)
        assert symbol.assumptions0 == made.assumptions0 and symbol.is_commutative
        assert symbol.is_positive is None and (symbol**2).is_nonnegative
    assert small_graph()[1]["w"] is not s["w"]  # each declaration a new symbol


def test_a_nodes_parents_are_the_free_symbols_of_its_expression():
    g = Graph()
    x1, x2 = g.input("x1"), g.input("x2")
    w1, w2, b = g.parameter("w1"), g.parameter("w2"), g.parameter("b")
    sums = [w1 * x1 + w2 * x2 - b, 2 * w1 * x1 + sp.sin(w2) * x2, w1 * x1 * sp.exp(b) + 3,
            sp.Mul(w1, x1 + w2, evaluate=False), sb.sigmoid(w1 * x1)]
    for k, expr in enumerate(sums):
        z = g.node(f"z{k}", expr)
        assert set(g.parents(z)) == expr.free_symbols
    with pytest.raises(GraphError, match="undeclared symbols: u, v"):
        g.node("bad", w1 * sp.Symbol("v", real=True) + sp.Symbol("u", real=True) * x1 + b)


def test_the_collector_is_paused_while_deriving_and_restored_after(monkeypatch):
    import gc

    from symbackprop.core.graph import collector_paused

    seen = []
    original = sb.sigmoid.fdiff

    def spy(self, argindex=1):  # called while the derivation runs
        seen.append(gc.isenabled())
        return original(self, argindex)

    assert gc.isenabled()
    monkeypatch.setattr(sb.sigmoid, "fdiff", spy)
    sb.derive(sb.mlp([2, 2, 1]))
    assert seen and not any(seen) and gc.isenabled()
    with pytest.raises(GraphError), collector_paused():
        raise GraphError("inside")
    assert gc.isenabled()  # on again after an error
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # left off when it was off
    finally:
        gc.enable()
