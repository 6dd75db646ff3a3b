"""A model's notes: the general form first (verified), then a focused unrolled instance."""

from __future__ import annotations

import pytest

import symbackprop as sb
from symbackprop.check.verify import VerificationError
from symbackprop.document.focus import Focus, families


@pytest.fixture(scope="module")
def rnn_doc():
    net = sb.rnn(1, 2, 1, steps=4)
    values = {s.name: 0.1 * (k % 7 - 3) for k, s in enumerate(net.leaves)}
    return net, sb.build_document(sb.derive(net), sb.worked_example(sb.derive(net), values))


def test_the_general_form_comes_right_after_the_network(rnn_doc):
    _, doc = rnn_doc
    assert doc.keys[:3] == ["network", "model_form", "forward"]
    general = doc.section("model_form")
    text = " ".join(eq.lhs + " = " + " = ".join(" ".join(s.lines) for s in eq.steps)
                    for b in general.blocks if b.kind == "equations" for eq in b.equations)
    # BPTT: δ_t from δ_{t+1}, and W's gradient as a sum over t.
    assert r"\delta_{t + 1,i}" in text
    assert r"\frac{\partial L}{\partial W_{j,k}} = \sum_{t=1}^{T}" in text
    keys = [b.key for b in general.blocks if b.kind == "paragraph"]
    assert keys[0] == "model_form_intro" and keys[-1] == "focus_intro"


def test_the_unrolled_instance_shows_representatives_and_says_so(rnn_doc):
    net, doc = rnn_doc
    forward = [eq.label for eq in doc.section("forward").subsections[0].blocks[0].equations]
    assert "forward a_2,1" in forward and "forward a_3,1" not in forward
    deltas = [eq.label for eq in doc.section("deltas").blocks[1].equations]
    assert "delta h_4,1" in deltas and "delta h_1,1" not in deltas
    grads = [eq.label for b in doc.section("gradients").blocks if b.kind == "equations"
             for eq in b.equations]
    assert grads == ["dL/dU_11", "dL/dW_11", "dL/dV_11", "dL/db_1", "dL/dc"]
    rest = [b for s in doc.sections for sub in s.walk() for b in sub.blocks
            if b.kind == "paragraph" and b.key == "focus_rest"]
    assert rest and all(b.args["count"] > 0 for b in rest)
    worked = [eq for b in doc.section("worked_forward").blocks for eq in b.equations]
    # the worked example computes every node its gradients and loss use: in an RNN, all
    assert [eq.label for eq in worked] == [f"value of {v}" for v in net.nodes]


def test_focus_picks_one_parameter_per_matrix_for_every_model():
    conv = Focus(sb.conv1d(8, 3))
    assert [p.name for p in conv.parameters] == ["w_1", "b", "v_1", "c"]
    blocks = sb.network(2, [sb.dense(3, "tanh"), sb.layer_norm(), sb.dense(1)], batch=2)
    fam = families(blocks)
    picked = Focus(blocks).parameters
    assert len({fam[p][0] for p in picked}) == len(picked)
    assert {fam[p][0] for p in picked} == {fam[p][0] for p in blocks.parameters}


def test_full_notes_and_mlps_write_everything():
    net = sb.rnn(1, 1, 1, steps=2)
    doc = sb.build_document(sb.derive(net), full=True)
    assert "model_form" in doc.keys  # the general form still comes first
    assert not any(b.key == "focus_rest" for s in doc.sections for sub in s.walk()
                   for b in sub.blocks if b.kind == "paragraph")
    assert "model_form" not in sb.build_document(sb.derive(sb.mlp([1, 1]))).keys


def test_a_general_form_that_disagrees_is_not_printed(monkeypatch):
    from symbackprop.forms.general import GeneralForm

    def wrong(self, sizes, seed=0):
        raise AssertionError("delta h[1, 1]: general form gives 1.0, the scalar derivation 2.0")

    monkeypatch.setattr(GeneralForm, "check", wrong)
    with pytest.raises(VerificationError, match="general form gives"):
        sb.build_document(sb.derive(sb.rnn(1, 1, 1, steps=2)))


def test_a_model_without_a_general_form_still_gets_focused_notes():
    # Every builder has a general form now; a model put together by hand has none.
    from symbackprop.builders.base import Model

    net = Model("hand-built")
    x, w, y = net.add(net.input, "x", "x"), net.add(net.parameter, "w", "w"), \
        net.add(net.target, "y", "y")
    z = net.add(net.node, "z", "z", w * x)
    net.add(net.loss, "L", "L", (z - y) ** 2)
    doc = sb.build_document(sb.derive(net))
    assert "model_form" not in doc.keys and doc.keys[0] == "network"


def test_korean_notes_say_the_general_form_in_korean():
    tex = sb.render(sb.derive(sb.conv1d(4, 2)), "article", language="ko")
    assert "일반형" in tex and "일반식" in tex


def test_a_long_model_reads_its_indices_right_and_breaks_its_sums():
    net = sb.rnn(1, 2, 1, steps=12)  # 85 nodes: drawn as its first and last steps
    fam = families(net)
    assert fam[net.symbol("L_10")] == ("L", (10,)) and fam[net.symbol("h_10,2")][1] == (10, 2)
    doc = sb.build_document(sb.derive(net))
    figures = [b for b in doc.section("network").blocks if b.kind == "figure"]
    assert len(figures) == 1 and r"\cdots" in figures[0].tikz and "h_{12}" in figures[0].tikz
    assert "forward L_10" not in {eq.label for eq in doc.equations}
    grad = next(eq for eq in doc.equations if eq.label == "dL/dU_11")
    lines = grad.steps[-1].lines
    assert len(lines) > 1 and all(len(x) <= 160 for x in lines)
    # δ_t on h_t, as the general form names it, in step order
    assert lines[0].index(r"\delta_{1,1}") < lines[0].index(r"\delta_{2,1}")


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_softmax_rnn_notes_print_y_hat_minus_y_and_say_the_targets_are_one_hot():
    net = sb.rnn(1, 1, 3, steps=2, output_activation="softmax", loss="cross_entropy")
    d = sb.derive(net)
    tex = sb.render(d, "article")
    form = tex[tex.index("The general form"):]
    assert r"= \hat{y}_{t,k} - y_{t,k}" in form
    assert r"The targets are one-hot, so $\sum_{k=1}^{n_{y}} y_{t,k} = 1$" in form
    assert r"\sum_{k=1}^{n_{y}} y_{t,k} = 1" in sb.render(d, "article", language="ko")
