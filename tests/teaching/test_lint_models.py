"""lint, grade and exercises on the other models (RNN, convolution, attention, layer and batch
norm, residual blocks), as a lecturer and a student would use them.

The three transcriptions in tests/reference/ (rnn.tex, conv1d.tex, attention.tex) are typed as a
lecturer would, each with one deliberate slip; every flag below was checked by hand with plain
math (the numbers in the comments).
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from texutil import REPO

import symbackprop as sb
from symbackprop.io.spec import load_spec
from symbackprop.teaching.exercises import exercise_sheets
from symbackprop.teaching.grade import grade, load_claims
from symbackprop.teaching.lint import lint, read_lint_symbols, read_tex, report
from symbackprop.teaching.quiz import Student, make_quiz, moodle_xml

REF = REPO / "tests" / "reference"
EXAMPLES = REPO / "docs" / "examples"
SHARED_ONE_USE, SOFTMAX, OTHER = "shared_one_use", "softmax_diagonal", "other_parameter"

#: line → [(side, slip, right value)] of each transcription's wrong sides, and nothing else.
EXPECTED = {
    "rnn": {
        # ∂L/∂W_hh = Σ_t δ_t (1 − h_t²) h_{t−1} = 0 − 0.01298 − 0.01168 = −0.02466; the notes
        # keep only the last step, −0.098 · 0.778 · 0.154 = −0.0117 ≈ −0.012 (truncated BPTT)
        35: [(r"\delta_3 (1 - h_3^2) h_2", SHARED_ONE_USE, "-0.0247"),
             (r"-0.098 \cdot 0.778 \cdot 0.154", SHARED_ONE_USE, "-0.0247"),
             ("-0.012", SHARED_ONE_USE, "-0.0247")],
        # W_hh' = 0.6 + 0.1 · 0.02466 = 0.6025; the notes carry −0.012: 0.6012 ≈ 0.601
        38: [("0.601", "carried", "0.6025")],
    },
    "conv1d": {
        # ∂L/∂w_2 = Σ_i δ_i x_{i+1} = 0.0358·(−0.2) − 0.0263·0.8 + 0.0154·0.3 = −0.0236; the
        # notes correlate with x_i, which is ∂L/∂w_1 = 0.0355
        27: [(r"\delta_1 x_1 + \delta_2 x_2 + \delta_3 x_3", OTHER, "-0.0236"),
             ("0.036", OTHER, "-0.0236")],
        # w_2' = −0.4 + 0.1 · 0.0236 = −0.3976; the notes carry 0.036: −0.4036 ≈ −0.404
        33: [("-0.404", "carried", "-0.3976")],
    },
    "attention": {
        # ∂L/∂s_1 = α_1(g_1 − α_1 g_1 − α_2 g_2) = −0.02147; the notes write α_1(1 − α_1) g_1
        # = 0.599 · 0.401 · (−0.065) = −0.0156
        26: [(r"\alpha_1 (1 - \alpha_1) g_1", SOFTMAX, "-0.0215"), ("-0.016", SOFTMAX, "-0.0215")],
        # ∂L/∂s_2 = +0.02147 (the two sum to zero); the notes: 0.401 · 0.599 · 0.024 = 0.0059
        27: [(r"\alpha_2 (1 - \alpha_2) g_2", SOFTMAX, "0.0215"), ("0.006", SOFTMAX, "0.0215")],
        # ∂L/∂q_1 = (−0.02147 · 0.5 + 0.02147 · (−0.4)) / √2 = −0.0137; from the notes' own
        # ∂L/∂s: (−0.0156 · 0.5 + 0.0059 · (−0.4)) / √2 = −0.0072 ≈ −0.007
        31: [("-0.007", SOFTMAX, "-0.0137")],
    },
}


def lint_reference(name: str):
    spec = load_spec(REF / f"{name}.toml")
    return lint(read_tex(REF / f"{name}.tex"), sb.derive(spec.graph), spec.values,
                learning_rate=spec.learning_rate, symbols=read_lint_symbols(REF / f"{name}.toml"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_transcription_is_flagged_exactly_at_its_slip(name):
    result = lint_reference(name)
    wrong = {line.line: [(s.text, s.slip.name if s.slip else None, s.right)
                         for s in line.sides if s.verdict == "wrong"] for line in result.wrong}
    assert wrong == EXPECTED[name]
    right = sum(s.verdict == "right" for line in result.lines for s in line.sides)
    assert right >= 15  # the forward pass, the loss, the δs and the other gradients


def test_the_cli_reports_a_model_transcription_in_the_notes_words_and_in_korean():
    r = subprocess.run([sys.executable, "-m", "symbackprop", "lint", str(REF / "rnn.tex"),
                        "--spec", str(REF / "rnn.toml")], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "rnn.tex:35: WRONG" in r.stdout and "rnn.tex:38: WRONG" in r.stdout
    assert "a shared parameter counted at one use only (a_3)" in r.stdout
    assert "carried from the claimed dL/dW_hh = -0.012" in r.stdout  # the notes' W_hh, not Whh
    assert "28 equations: 2 wrong" in r.stdout
    korean = report(lint_reference("attention"), "attention.tex", language="ko")
    assert "attention.tex:26:" in korean and "소프트맥스" in korean, korean


# -- grade: claims in the notes' own names ----------------------------------------------------
CLAIMS = {
    # (spec, claims as a student writes them, the keys they are, the wrong ones and their slips)
    "rnn": (REF / "rnn.toml",
            {"h_1": "0.291", "h_3": "0.472", r"\hat{y}_3": "0.130", "δ_3": "-0.098",
             r"\delta_{2}": "-0.046", "delta_1": "-0.027", "dL/dW_hh": "-0.012",
             r"\frac{\partial L}{\partial W_{hy}}": "-0.066", "W_hh'": "0.601",
             "∂L/∂b_h": "-0.145"},
            {"dL/dWhh": SHARED_ONE_USE, "Whh'": "carried"}),
    "conv1d": (REF / "conv1d.toml",
               {"z_2": "-0.340", "a_2": "0.416", r"\hat{y}": "0.608", "δ^o": "0.217",
                "δ_1": "0.0358", r"\delta_{3}": "0.0154", "dL/dw_1": "0.036",
                "dL/dw_2": "0.036", "w_2'": "-0.404"},
               {"dL/dw_2": OTHER, "w_2'": "carried"}),
    "attention": (REF / "attention.toml",
                  {"s_1": "0.021", r"\alpha_2": "0.401", "o": "0.359", "g_1": "-0.065",
                   "dL/ds_1": "-0.016", r"\delta_{s_2}": "0.0215", "dL/dq_1": "-0.007",
                   "dL/dv_1": "-0.049", "dL/dk_1,1": "-0.0033", "dL/dv_2": "0.5"},
                  {"dL/ds_1": SOFTMAX, "dL/dq_1": SOFTMAX, "dL/dk_1,1": SOFTMAX,
                   "dL/dv_2": None}),
}


@pytest.mark.parametrize("name", sorted(CLAIMS))
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_grade_reads_the_notes_names_and_names_each_slip(name, tmp_path):
    spec_path, written, slips = CLAIMS[name]
    spec = load_spec(spec_path)
    claims = {k: Decimal(v) for k, v in written.items()}
    rows = grade(sb.derive(spec.graph), spec.values, claims, learning_rate=0.1)
    wrong = {r.key: r.slip.name if r.slip else None for r in rows if not r.ok}
    assert wrong == slips
    # the same claims through the command line, as a TOML file
    path = tmp_path / "claims.toml"
    path.write_text("[claims]\n" + "".join(f"{_toml_key(k)} = {v}\n" for k, v in written.items()),
                    encoding="utf-8")
    assert load_claims(path) == claims
    r = subprocess.run([sys.executable, "-m", "symbackprop", "grade", str(spec_path), str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert f"{len(rows) - len(slips)} of {len(rows)} right" in r.stdout
    assert "Whh" not in r.stdout  # every name as the notes print it (W_hh' as claimed)


def _toml_key(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_grade_says_which_names_a_network_knows():
    spec = load_spec(REF / "rnn.toml")
    with pytest.raises(ValueError, match=r"names like .*'dL/dWxh', 'delta_h_1' or \"Wxh'\""):
        grade(sb.derive(spec.graph), spec.values, {"dL/dW_zz": Decimal("0.1")})


def test_layer_norm_and_residual_names_are_read_too():
    spec = load_spec(EXAMPLES / "model-blocks.toml")
    d = sb.derive(spec.graph)
    truth = d.evaluate(spec.values)
    claims = {r"\mu^{[2]}": Decimal(f"{truth.nodes['mu^[2]']:.3f}"),
              r"\hat{x}_1^{[2]}": Decimal(f"{truth.nodes['xhat_1^[2]']:.3f}"),
              r"\delta_1^{[3]}": Decimal(f"{truth.deltas['z_1^[3]']:.3f}"),
              r"dL/d\gamma_2^{[2]}": Decimal(f"{truth.gradients['gamma_2^[2]']:.3f}")}
    rows = grade(d, spec.values, claims)
    assert [r.key for r in rows] == ["mu^[2]", "xhat_1^[2]", "dL/dz_1^[3]", "dL/dgamma_2^[2]"]
    assert all(r.ok for r in rows)


# -- exercises: per-student variants on every model kind ---------------------------------------
MODELS = ["rnn", "conv1d", "conv2d", "attention", "batchnorm", "blocks"]


@pytest.mark.parametrize("model", [*MODELS, "rnn-softmax"])
def test_quiz_variants_on_every_model_kind_carry_the_engines_answers(model):
    spec = load_spec(EXAMPLES / f"model-{model}.toml")
    d = sb.derive(spec.graph)
    # rounded only for display, the answers are the engine's own numbers (by hand, those its
    # answer key prints: tests/teaching/test_exercise_rules.py)
    (v,) = make_quiz(spec.graph, [Student("s1", "Ada")], seed=2, nice=True, derivation=d,
                     rounding="display")
    ev = d.evaluate(v.values)
    loss = spec.graph.loss_symbol.name
    truth = dict(ev.nodes, **{loss: ev.loss}, **{f"d{loss}/d{p}": g
                                                 for p, g in ev.gradients.items()})
    truth.update({f"{p}'": v.values[p] - 0.1 * g for p, g in ev.gradients.items()})
    kinds = [q.kind for q in v.questions]
    assert kinds.count("numerical") == 5 and kinds.count("multichoice") == 2
    assert spec.graph.kind(spec.graph.symbol(v.questions[0].key)).value == "node"  # ŷ, not L_t
    for q in v.questions:
        assert abs(float(q.shown) - truth[q.key]) <= 0.5e-3 + 1e-12, q
        for c in q.choices:
            assert c.correct or (c.slip is not None and c.slip_text)
    root = ET.fromstring(moodle_xml([v], spec.title, []).encode("utf-8"))
    assert len(root.findall("question")) == 1 + len(v.questions)


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_the_cli_makes_a_moodle_quiz_for_an_rnn_and_grades_a_students_answer(tmp_path):
    roster = tmp_path / "students.csv"
    roster.write_text("id,name\ns1,Ada\ns2,Alan\n", encoding="utf-8")
    out = tmp_path / "quiz"
    spec = EXAMPLES / "model-rnn.toml"
    r = subprocess.run([sys.executable, "-m", "symbackprop", "exercises", str(spec), "--roster",
                        str(roster), "--nice", "--format", "moodle", "-o", str(out), "-q",
                        "--seed", "4"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["answers.tex", "exercises.tex",
                                                      "quiz-key.tex", "quiz.xml"]
    questions = ET.parse(out / "quiz.xml").getroot().findall("question")
    assert sum(q.get("type") == "multichoice" for q in questions) == 4
    key = (out / "quiz-key.tex").read_text(encoding="utf-8")
    assert r"$\hat{y}_{4} = " in key and "$L_{4} = " not in key  # the prediction, not L_4
    (v,) = make_quiz(load_spec(spec).graph, [Student("s2")], seed=4, nice=True)
    q = next(q for q in v.questions if q.kind == "numerical" and q.key.startswith("dL/dU"))
    claims = tmp_path / "s2.toml"
    claims.write_text(f'[claims]\n"dL/dU_11" = {q.shown}\n', encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "symbackprop", "grade", str(spec), str(claims),
                        "--student", "s2", "--seed", "4", "--nice"], capture_output=True, text=True)
    assert r.returncode == 0 and "1 of 1 right" in r.stdout, r.stdout + r.stderr


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_by_hand_sheets_of_a_norm_over_two_values_are_refused_with_the_way_out():
    # A layer norm over two features: each x̂ is ±1, so the first layer's gradients are nearly 0.
    graph = sb.network(2, [sb.dense(2, "tanh"), sb.layer_norm(), sb.dense(1)])
    with pytest.raises(ValueError, match="use --rounding display"):
        exercise_sheets(graph, 1, 0, rounding="by_hand")


@pytest.mark.slow
def test_the_cli_refuses_by_hand_sheets_of_a_batch_norm_and_writes_them_for_display(tmp_path):
    spec = tmp_path / "bn.toml"
    spec.write_text((EXAMPLES / "model-batchnorm.toml").read_text(encoding="utf-8").replace(
        'rounding = "display"', 'rounding = "by_hand"'), encoding="utf-8")
    base = [sys.executable, "-m", "symbackprop", "exercises", str(spec), "-q", "--count", "1"]
    r = subprocess.run(base + ["-o", str(tmp_path / "a")], capture_output=True, text=True)
    assert r.returncode == 2 and "use --rounding display" in r.stderr
    assert r.stderr.count("\n") == 1 and not (tmp_path / "a").exists()
    r = subprocess.run(base + ["-o", str(tmp_path / "b"), "--rounding", "display"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_the_korean_key_of_an_attention_quiz_compiles_with_its_softmax_distractor(tmp_path):
    from symbackprop.output.render import compile_pdf, have_tex
    from symbackprop.teaching.quiz import quiz_key

    spec = load_spec(EXAMPLES / "model-attention.toml")
    variants = make_quiz(spec.graph, [Student("s1", "Ada")], seed=0, nice=True, language="ko")
    key = quiz_key(variants, spec.title, language="ko")
    assert r"\usepackage{kotex}" in key and "소프트맥스의 도함수를" in key
    if have_tex():
        compile_pdf(key, tmp_path / "key.pdf")
        assert (tmp_path / "key.pdf").stat().st_size > 1000


def test_the_docs_table_of_slips_per_network_is_the_engines():
    from symbackprop.teaching.slips import SLIPS, HandCalculator

    doc = (REPO / "docs" / "lint.md").read_text(encoding="utf-8")
    header = next(line for line in doc.splitlines() if line.startswith("| slip | MLP σ"))
    specs = ["seed000", "seed004"] + [f"model-{m}" for m in MODELS]
    assert header.count("|") == len(specs) + 2
    applicable = []
    for name in specs:
        s = load_spec(EXAMPLES / f"{name}.toml")
        applicable.append(set(HandCalculator(sb.derive(s.graph), s.values).applicable()))
    for slip in SLIPS:
        row = f"| `{slip}` | " + " | ".join("✓" if slip in a else "–" for a in applicable) + " |"
        assert row in doc, row


def test_a_layer_norm_and_a_residual_are_read_as_the_notes_write_them():
    # σ² is printed (σ^{[2]})², so σ^{[2]} reads as its square root; ε is the norm's constant.
    tex = "\n".join([
        r"\[ \mu^{[2]} = \frac{a_1^{[1]} + a_2^{[1]}}{2} = -0.612 \]",
        r"\[ (\sigma^{[2]})^2 = \frac{(a_1^{[1]} - \mu^{[2]})^2 + (a_2^{[1]} - \mu^{[2]})^2}{2}"
        r" = 0.072 \]",
        r"\[ \hat{x}_1^{[2]} = \frac{a_1^{[1]} - \mu^{[2]}}{\sqrt{(\sigma^{[2]})^2 + \epsilon}}"
        r" = 1.000 \]",
        r"\[ r_1^{[4]} = a_1^{[3]} + \tilde{x}_1^{[2]} = -1.401 \]",
        r"\[ \hat{x}_2^{[2]} = \gamma_2^{[2]} = 1.000 \]",
    ])
    spec = load_spec(EXAMPLES / "model-blocks.toml")
    result = lint(tex, sb.derive(spec.graph), spec.values)
    verdicts = [[s.verdict for s in line.sides[1:]] for line in result.lines]
    assert verdicts == [["right", "right"]] * 4 + [["wrong", "wrong"]]  # x̂_2 is −1.000, γ_2 0.9
