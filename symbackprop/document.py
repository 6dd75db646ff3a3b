"""The Document: a plain data model of what the notes say, every equation verified.

:func:`build_document` turns a Derivation (and optionally a WorkedExample) into sections of
prose and equations. Each equation's sides are checked by :mod:`symbackprop.verify` as it is
added; a failure stops the build with the equation's name. Everything here is strings (math as
:class:`~symbackprop.latex.Tex`), so templates never see SymPy.

>>> import symbackprop as sb
>>> doc = build_document(sb.derive(sb.mlp([2, 2, 1])))
>>> doc.checked > 20, doc.sections[0].title
(True, 'The network')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import ClassVar

import sympy as sp

from .derive import Derivation
from .functions import sigmoid, softmax
from .graph import Kind
from .latex import Tex, TexPrinter
from .mlp import MLP
from .numeric import WorkedExample
from .verify import Meaning, VerificationError, elementary, verify

__all__ = [
    "Document",
    "Section",
    "Paragraph",
    "Equations",
    "Equation",
    "Step",
    "Figure",
    "build_document",
]

_DOUBLE_PARENS = re.compile(r"\\left\(\\left\((-?[0-9.]+)\\right\)\\right\)")
#: A chain with more paths than this is shown in δ form only (it would not fit a page).
MAX_SHOWN_PATHS = 4
#: A formula longer than this (in LaTeX characters) would run off the page: it is left out.
MAX_LINE = 160
#: Notes write several equations per parameter (about 10 ms each): above this many parameters
#: they would run to hundreds of pages, and the matrix form says the same in a dozen lines.
MAX_NOTES_PARAMETERS = 1000
#: Sums with more terms than this are broken across lines.
TERMS_PER_LINE = 4


@dataclass
class Step:
    """One ``= rhs`` of a chained equation; ``lines`` breaks a long sum across lines."""

    lines: list[Tex]
    relation: str = "="
    note: Tex | None = None  # a short justification printed after the step


@dataclass
class Equation:
    label: str
    lhs: Tex
    steps: list[Step]
    check: str = ""


@dataclass
class Paragraph:
    """Prose: a list of parts, each plain text (escaped by the template) or Tex (inline math)."""

    parts: list[str]
    kind: ClassVar[str] = "paragraph"


@dataclass
class Equations:
    equations: list[Equation]
    title: str = ""
    columns: int = 1  # >1: short one-step equations side by side
    kind: ClassVar[str] = "equations"

    @property
    def rows(self) -> list[list[Equation]]:
        return [self.equations[k:k + self.columns]
                for k in range(0, len(self.equations), self.columns)]


@dataclass
class Figure:
    tikz: Tex
    caption: list[str]
    wide: bool = False  # wider than 2.2 times its height: fit to the width, else to the height
    kind: ClassVar[str] = "figure"


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)


@dataclass
class Document:
    title: str
    author: str
    notation: str
    sections: list[Section]
    checked: int
    methods: dict[str, int]

    @property
    def equations(self) -> list[Equation]:
        out: list[Equation] = []

        def walk(section: Section) -> None:
            for b in section.blocks:
                if isinstance(b, Equations):
                    out.extend(b.equations)
            for s in section.subsections:
                walk(s)

        for s in self.sections:
            walk(s)
        return out

    @property
    def check_statement(self) -> str:
        parts = ", ".join(f"{n} {m}" for m, n in sorted(self.methods.items()))
        return (
            f"Each of the {self.checked} equations in this document was checked by symbackprop "
            f"before it was printed ({parts})."
        )


_METHOD_WORDS = {
    "identical": "by direct comparison",
    "symbolic": "symbolically",
    "numeric": "numerically at random points",
    "numbers": "by recomputing the numbers",
    "matrix": "entry by entry against the scalar derivation",
}


class _Builder:
    def __init__(self, d: Derivation, example: WorkedExample | None, options: dict) -> None:
        self.d = d
        self.g = d.graph
        self.example = example
        self.tex = TexPrinter(d)
        self.meaning = Meaning(d, values=example.values if example else None)
        self.methods: dict[str, int] = {}
        self.options = options
        self.mlp = self.g if isinstance(self.g, MLP) else None

    # -- equations, each verified as it is made ----------------------------------------------
    def equation(self, label: str, lhs: sp.Expr, *rhs: sp.Expr | tuple[sp.Expr, Tex],
                 lhs_tex: Tex | None = None) -> Equation:
        """lhs = rhs1 = rhs2 …; each rhs is an expression, or (expression, how to print it)."""
        steps, method = [], "identical"
        for r in rhs:
            expr, printed = r if isinstance(r, tuple) else (r, None)
            check = verify(lhs, expr, label, self.meaning)
            method = _weaker(method, check.method)
            lines = printed if isinstance(printed, list) else [printed or self.tex(expr)]
            steps.append(Step(lines))
        self.methods[method] = self.methods.get(method, 0) + 1
        return Equation(label, lhs_tex or self.tex(lhs), steps, _METHOD_WORDS[method])

    def numbers(self, label: str, lhs: Tex, symbolic: sp.Expr, value: float) -> Equation:
        """symbolic form = numbers substituted = result, checked against the carried values."""
        ex = self.example
        shown = {s: ex.show(self._value(s)) for s in symbolic.free_symbols}
        printer = TexPrinter(self.d, mul_symbol="dot")
        printer.names.update(
            {s: (rf"\left({v}\right)" if v.startswith("-") else v) for s, v in shown.items()}
        )
        full = _evaluate(symbolic, {s: self._value(s) for s in symbolic.free_symbols})
        if ex.rounding == "display" and not _close(full, value):
            raise VerificationError(
                f"equation {label!r} does not hold: {symbolic} = {full!r}, not {value!r}"
            )
        from_shown = _evaluate(symbolic, {s: float(v) for s, v in shown.items()})
        relation = "=" if ex.show(from_shown) == ex.show(value) else r"\approx"
        self.methods["numbers"] = self.methods.get("numbers", 0) + 1
        steps = [Step([self.tex(symbolic)])]
        if symbolic.free_symbols and not isinstance(symbolic, sp.Symbol):
            # A negative number is parenthesised; inside σ(…) that would double the brackets.
            substituted = _DOUBLE_PARENS.sub(r"\\left(\1\\right)", printer(symbolic))
            steps.append(Step([Tex(substituted)]))
        steps.append(Step([Tex(ex.show(value))], relation))
        return Equation(label, lhs, steps, _METHOD_WORDS["numbers"])

    def _value(self, s: sp.Symbol) -> float:
        ex = self.example
        return ex.nodes.get(s.name, ex.values.get(s.name)) if s.name in ex.nodes or \
            s.name in ex.values else math.nan

    # -- sections ----------------------------------------------------------------------------
    def build(self) -> Document:
        sections = [self.network(), self.forward(), self.locals_(), self.deltas(),
                    self.gradients(), self.updates()]
        general = self.general_form()
        if general:
            sections.insert(5, general)
        wants_matrix = self.options.get("matrix")
        if self.mlp and (wants_matrix or wants_matrix is None and self.mlp.notation.name == "matrix"):
            sections.insert(len(sections) - 1, self.matrix_form())  # before gradient descent
        if self.example is not None:
            sections.append(self.worked())
        if self.options.get("contrast"):
            sections.append(self.contrast())
        if self.options.get("appendix", True):
            appendix = self.appendix()
            if appendix.subsections:
                sections.append(appendix)
        checked = sum(self.methods.values())
        return Document(self.options.get("title") or self.g.title, self.options.get("author", ""),
                        getattr(getattr(self.g, "notation", None), "name", "custom"), sections,
                        checked, {_METHOD_WORDS[k]: v for k, v in self.methods.items()})

    def network(self) -> Section:
        g, t = self.g, self.tex
        s = Section("The network")
        if self.mlp:
            net = self.mlp
            widths = ", ".join(str(n) for n in net.sizes)
            acts = ", ".join(dict.fromkeys(net.activations))
            bias = {False: "no biases", True: "a bias per unit",
                    "threshold": "threshold biases (x_0 = -1, so S = sum w x - b)",
                    "shared": "one bias shared by each layer"}[net.bias_mode]
            s.blocks.append(Paragraph([
                f"A fully connected network with layer widths {widths}, activations {acts}, "
                f"{bias}, and the {net.loss_name.replace('_', ' ')} loss. It is written in the "
                f"{net.notation.name} notation: {net.notation.description}."
            ]))
        else:
            s.blocks.append(Paragraph([
                f"A computational graph with {len(g.inputs)} inputs, {len(g.targets)} targets, "
                f"{len(g.parameters)} parameters and {len(g.nodes) - 1} intermediate nodes."
            ]))
        wide = self.mlp is not None and (len(self.mlp.sizes) + 0.9) > 2.2 * max(self.mlp.sizes) * 0.5
        s.blocks.append(Figure(tikz_network(self.d, t), ["The network; edges carry their weights."],
                               wide))
        rows = [("inputs", g.inputs), ("targets", g.targets), ("parameters", g.parameters)]
        parts: list[str] = []
        for name, syms in rows:
            if syms:
                parts += [f"The {name} are ", Tex(", ".join(t(x) for x in syms[:12])
                                                  + (r", \ldots" if len(syms) > 12 else "")), ". "]
        s.blocks.append(Paragraph(parts))
        return s

    def _layers(self) -> list[tuple[str, list[sp.Symbol]]]:
        g = self.g
        if self.mlp:
            net = self.mlp
            out = []
            for l in range(1, net.depth + 1):  # noqa: E741
                name = "Output layer" if l == net.depth else f"Hidden layer {l}"
                units = range(1, net.sizes[l] + 1)
                out.append((f"{name} (layer {l})", [net.pre(l, j) for j in units]
                            + [net.act(l, j) for j in units]))
            return out
        return [("Nodes", [v for v in g.nodes if v != g.loss_symbol])]

    def forward(self) -> Section:
        g = self.g
        s = Section("Forward pass")
        s.blocks.append(Paragraph(["Each node is computed from the ones before it."]))
        for title, nodes in self._layers():
            sub = Section(title)
            eqs = [self.equation(f"forward {v}", v, self._forward_rhs(v)) for v in nodes]
            sub.blocks.append(Equations(eqs))
            s.subsections.append(sub)
        sub = Section("Loss")
        loss = g.loss_symbol
        sub.blocks.append(Equations([self.equation(f"loss {loss}", loss, self._forward_rhs(loss))]))
        s.subsections.append(sub)
        return s

    def _forward_rhs(self, v: sp.Symbol):
        expr = self.g.expr(v)
        if isinstance(expr, sp.Add) and len(expr.args) > TERMS_PER_LINE:
            return (expr, self._broken_sum(expr.args))
        return expr

    def _broken_sum(self, terms) -> list[Tex]:
        printed = [self.tex(a) for a in terms]
        lines = [self.tex.terms(printed[k:k + TERMS_PER_LINE])
                 for k in range(0, len(printed), TERMS_PER_LINE)]
        return [Tex(("+ " if k and not ln.startswith("-") else "") + ln)
                for k, ln in enumerate(lines)]

    def locals_(self) -> Section:
        s = Section("Local derivatives")
        s.blocks.append(Paragraph([
            "Every edge of the graph contributes one local derivative: the derivative of a node "
            "with respect to one of its inputs, written in the node's own terms."
        ]))
        eqs = []
        for c in self.g.nodes:
            for v in self.g.parents(c):
                if self.g.kind(v) in (Kind.INPUT, Kind.TARGET):
                    continue  # no gradient flows into data
                if c in self.d.deltas:
                    local = self.d.local(c, v)
                    lhs = sp.Derivative(c, v)
                    eqs.append(self.equation(f"d{c}/d{v}", self._as_local(lhs), local,
                                             lhs_tex=self.tex(lhs)))
        s.blocks.append(Equations(eqs, columns=3 if len(eqs) > 8 else 1))
        return s

    def deltas(self) -> Section:
        d, g, t = self.d, self.g, self.tex
        s = Section("Backward pass: the error signals")
        named = [v for v in g.delta_nodes if v in d.deltas]
        s.blocks.append(Paragraph([
            "Backpropagation gives each node v its error signal ", Tex(r"\delta_v = \partial "
            + t(g.loss_symbol) + r" / \partial v"), ", the sum over the nodes c that use v of ",
            Tex(r"\delta_c \, \partial c / \partial v"),
            ". Each signal is computed once, from the ones after it, and reused.",
        ]))
        eqs = []
        for v in reversed(named):
            delta = d.delta(v)
            rhs = [sp.Derivative(g.loss_symbol, v)]
            rec = delta.recursion
            rhs.append((rec, self._delta_recursion_tex(v, rec)))
            notes = {}
            if delta.value != rec and sp.count_ops(delta.value) <= 40 \
                    and len(t(delta.value)) <= MAX_LINE:
                if delta.assumes:
                    group = next(gr for gr in g.one_hot_groups
                                 if set(gr) <= d.exact_value(v).free_symbols)
                    notes[len(rhs)] = Tex(r"\text{since } " + t(sp.Add(*group)) + " = 1")
                rhs.append(delta.value)
            eq = self.equation(f"delta {v}", delta.symbol, *rhs)
            for k, note in notes.items():
                eq.steps[k].note = note
            eqs.append(eq)
        s.blocks.append(Equations(eqs))
        if any(d.delta(v).assumes for v in named):
            s.blocks.append(Paragraph([
                "With a one-hot target the targets sum to one, which turns the output signal "
                "into the prediction minus the target."
            ]))
        return s

    def _delta_recursion_tex(self, v: sp.Symbol, rec: sp.Expr) -> Tex:
        # Print Σ_c δ_c ∂c/∂a · ∂a/∂v in the textbook's order when v feeds one activation.
        d, t = self.d, self.tex
        children = [c for c in d._children[v] if c in d.deltas]
        if len(children) == 1 and children[0] != d.loss:
            a = children[0]
            inner = d.deltas[a]
            outer = d.local(a, v)
            named = set(self.g.delta_nodes)
            if any(c in named or c == d.loss for c in d._children[a]):
                inner_expr = d._through(a, named)
                if isinstance(inner_expr, sp.Add):
                    terms = [self._ordered_term(term) for term in inner_expr.args]
                    body = self.tex.terms(terms)
                    return Tex(rf"\left({body}\right) {t.factor(outer)}")
                return Tex(f"{self._ordered_term(inner_expr)} {t.factor(outer)}")
            return Tex(f"{t.factor(inner)} {t.factor(outer)}")
        return t(rec)

    def _ordered_term(self, term: sp.Expr) -> str:
        """δ first, then the rest: δ_k w_jk as the textbooks write it."""
        deltas = set(self.d.delta_symbols.values())
        factors = sp.Mul.make_args(term)
        first = [f for f in factors if f in deltas]
        rest = [f for f in factors if f not in deltas]
        coeff = [f for f in rest if f.is_number]
        rest = [f for f in rest if not f.is_number]
        sign = ""
        if coeff and coeff[0] == -1:
            sign, coeff = "-", []
        return sign + self.tex.product([*coeff, *first, *rest], sep=" ")

    def gradients(self) -> Section:
        s = Section("Gradients of the parameters")
        s.blocks.append(Paragraph([
            "By the chain rule, the derivative of the loss with respect to a parameter is the "
            "product of the local derivatives along each path from the parameter to the loss, "
            "summed over the paths. The last form reuses the error signals."
        ]))
        groups = self._param_groups()
        for title, params in groups:
            sub = Section(title) if len(groups) > 1 else s
            sub.blocks.append(Equations([self._gradient_equation(p) for p in params]))
            if sub is not s:
                s.subsections.append(sub)
        unused = [p for p in self.g.parameters if self.d.gradient(p, form="delta") == 0]
        if unused:
            # Said in words: a zero is easy to misread as a slip of the engine.
            t = self.tex
            names: list = []
            for k, p in enumerate(unused):
                names += ([", "] if 0 < k < len(unused) - 1 else [" and "] if k else []) + [Tex(t(p))]
            s.blocks.append(Paragraph([
                "The loss does not depend on ", *names,
                ": no path leads from " + ("it" if len(unused) == 1 else "them")
                + " to the loss, so " + ("its gradient is" if len(unused) == 1 else
                                          "their gradients are") + " 0 and gradient descent "
                "leaves " + ("it" if len(unused) == 1 else "them") + " unchanged."
            ]))
        return s

    def _param_groups(self) -> list[tuple[str, list[sp.Symbol]]]:
        if self.mlp:
            net = self.mlp
            return [(f"Layer {l}", net.weights(l) + net.layer_biases(l))
                    for l in range(net.depth, 0, -1)]  # noqa: E741
        return [("Parameters", self.g.parameters)]

    def _as_local(self, expr: sp.Expr) -> sp.Expr:
        """∂L/∂v on an edge or as a chain's factor is L's own partial derivative; Meaning reads
        ∂L/∂v as the total one, which differs where v also reaches L another way (weight decay)."""
        L = self.g.loss_symbol
        return expr.replace(lambda e: isinstance(e, sp.Derivative) and e.expr == L,
                            lambda e: sp.diff(elementary(self.g.expr(L)), e.variables[0]))

    def _gradient_equation(self, p: sp.Symbol) -> Equation:
        d, t, L = self.d, self.tex, self.g.loss_symbol
        lhs = sp.Derivative(L, p)
        if p not in d.deltas:
            return self.equation(f"dL/d{p}", lhs, sp.S.Zero)
        rhs: list = []
        # Count the paths before listing them: a deep net has exponentially many (2^15 in a
        # [2]*16 MLP), and only the δ form is printed then.
        chain = d.chain(p) if self._path_count(p) <= MAX_SHOWN_PATHS else None
        if chain is not None and len(chain) <= MAX_SHOWN_PATHS:
            symbolic = [t.product([f.derivative for f in path], sep=" ") for path in chain.paths]
            results = [t.product([f.result for f in path]) for path in chain.paths]
            rhs.append((self._as_local(chain.symbolic()), self._lines(symbolic)))
            rhs.append((chain.expr(), self._lines(results)))
        form = d.gradient(p, form="delta")
        rhs.append((form, Tex(self._delta_form_tex(form))))
        return self.equation(f"dL/d{p}", lhs, *rhs)

    def _path_count(self, v: sp.Symbol) -> int:
        """Chain-rule paths from v to the loss, counted without listing them."""
        counts = self.__dict__.setdefault("_path_counts", {})
        if "_path_children" not in self.__dict__:  # once: Graph.children rebuilds per call
            children: dict[sp.Symbol, list[sp.Symbol]] = {}
            for node in self.g.nodes:
                for parent in self.g.parents(node):
                    children.setdefault(parent, []).append(node)
            self.__dict__["_path_children"] = children
        if v not in counts:
            if v == self.g.loss_symbol:
                counts[v] = 1
            else:
                counts[v] = sum(self._path_count(c) for c in self._path_children.get(v, ())
                                if c in self.d.deltas)
        return counts[v]

    def _lines(self, terms: list[str]) -> list[Tex]:
        if len(terms) <= 1:
            return [Tex(terms[0] if terms else "0")]
        return [Tex(x if not k else ("- " + x[1:].lstrip() if x.startswith("-") else "+ " + x))
                for k, x in enumerate(terms)]

    def _delta_form_tex(self, form: sp.Expr) -> str:
        return self.tex.terms([self._ordered_term(term) for term in sp.Add.make_args(form)])

    def general_form(self) -> Section | None:
        net = self.mlp
        if not net or net.notation.name == "sequential":
            return None
        n, d = net.notation, self.d
        s = Section("The general form")
        w, delta = n.latex_general("weight", l="l"), n.latex_general("delta", l="l")
        a_prev = n.latexes["act"].format(**{**_letters("l-1"), "j": "i", "n": "i"})
        b = n.latex_general("bias", l="l")
        sign = "-" if net.bias_mode == "threshold" else ""
        # Each general statement is checked on every instance before it is printed.
        count = 0
        for l in range(1, net.depth + 1):  # noqa: E741
            for i in range(1, net.sizes[l - 1] + 1):
                for j in range(1, net.sizes[l] + 1):
                    lhs = sp.Derivative(net.loss_symbol, net.weight(l, i, j))
                    rhs = d.delta_symbols[net.pre(l, j)] * net.act(l - 1, i)
                    verify(lhs, rhs, f"general form w({l},{i},{j})", self.meaning)
                    count += 1
        eqs = [Equation("general weight gradient",
                        Tex(rf"\frac{{\partial {self.tex(net.loss_symbol)}}}{{\partial {w}}}"),
                        [Step([Tex(f"{delta} {a_prev}")])], f"on all {count} weights")]
        if net.bias_mode:
            for l in range(1, net.depth + 1):  # noqa: E741
                for bsym in net.layer_biases(l):
                    lhs = sp.Derivative(net.loss_symbol, bsym)
                    verify(lhs, d.gradient(bsym, form="delta"), f"general form {bsym}",
                           self.meaning)
            if net.bias_mode != "shared":
                eqs.append(Equation("general bias gradient",
                                    Tex(rf"\frac{{\partial {self.tex(net.loss_symbol)}}}"
                                        rf"{{\partial {b}}}"),
                                    [Step([Tex(f"{sign}{delta}")])], "on all biases"))
        self.methods["numeric"] = self.methods.get("numeric", 0) + len(eqs)
        s.blocks.append(Paragraph([
            "The gradients above follow one pattern: a weight's gradient is the error signal of "
            "the unit it feeds times the activation it carries"
            + (", and a threshold bias enters with a minus sign" if sign else "") + "."
        ]))
        s.blocks.append(Equations(eqs))
        return s

    def matrix_form(self) -> Section:
        """Seed 004's matrix equations, derived by matrix.py and checked entry by entry against
        this derivation (small sizes, a batch of two, random numbers) before they are printed."""
        from .matrix import MatrixLatexPrinter, matrix_form

        form = matrix_form(self.mlp)
        try:
            form.check()
        except AssertionError as err:
            raise VerificationError(str(err)) from None
        p = MatrixLatexPrinter(loss=self.tex(self.g.loss_symbol))

        def block(equations) -> Equations:
            return Equations([Equation(f"matrix {eq.kind} {eq.layer}", Tex(p.doprint(eq.lhs)),
                                       [Step([Tex(p.doprint(eq.rhs))])], _METHOD_WORDS["matrix"])
                              for eq in equations])

        self.methods["matrix"] = self.methods.get("matrix", 0) + len(form.equations)
        s = Section("The matrix form")
        s.blocks.append(Paragraph([
            "For a batch of ", Tex("m"), " samples, one per column, every layer takes one line. "
            "Layer ", Tex("l"), " has ", Tex("n_{l}"), " units, ", Tex(r"A^{[0]} = X"),
            " holds the inputs and ", Tex("Y"), " the targets; ", Tex(r"\odot"),
            " multiplies entry by entry and ", Tex(r"\mathbf{1}"), " is a vector of ones."
        ]))
        s.blocks.append(block([*form.forward, form.loss]))
        mean = form.reduction == "mean"
        s.blocks.append(Paragraph([
            "Backward, ", Tex(r"\delta^{[l]}"), " holds in column ", Tex("i"),
            " the derivative of sample ", Tex("i"), "'s own loss with respect to ",
            Tex(r"Z^{[l]}"), ". Each line is one rule of backpropagation: a product ",
            Tex("W A"), " passes ", Tex(r"W^{\top} \delta"), " back, an activation multiplies "
            "by its derivative."
        ]))
        s.blocks.append(block(form.deltas))
        s.blocks.append(Paragraph(
            ["The gradients add up the samples' contributions and divide by ", Tex("m"),
             ", since the loss is the mean over the batch:"] if mean else
            ["The gradients add up the samples' contributions (the loss is the sum over the "
             "batch):"]
        ))
        s.blocks.append(block(form.gradients))
        return s

    def updates(self) -> Section:
        t, L = self.tex, self.g.loss_symbol
        s = Section("Gradient descent")
        s.blocks.append(Paragraph([
            "With learning rate ", Tex(r"\eta"), ", one step of gradient descent moves every "
            "parameter against its gradient:"
        ]))
        eqs = []
        for p in self.g.parameters[:24]:
            form = self.d.gradient(p, form="delta")
            step = Tex(rf"{t(p)} - \eta \frac{{\partial {t(L)}}}{{\partial {t(p)}}}")
            delta_step = Tex(rf"{t(p)} - \eta \, {t.factor(form) if form != 0 else '0'}")
            if isinstance(form, sp.Mul) and form.could_extract_minus_sign():
                delta_step = Tex(rf"{t(p)} + \eta \, {self._delta_form_tex(-form)}")
            check = verify(sp.Derivative(L, p), form, f"update {p}", self.meaning)
            self.methods[check.method] = self.methods.get(check.method, 0) + 1
            eqs.append(Equation(f"update {p}", Tex(rf"{{{t(p)}}}'"), [Step([step]), Step([delta_step])],
                                _METHOD_WORDS[check.method]))
        s.blocks.append(Equations(eqs))
        if len(self.g.parameters) > 24:
            s.blocks.append(Paragraph([f"… and likewise for the other "
                                       f"{len(self.g.parameters) - 24} parameters."]))
        return s

    def worked(self) -> Section:
        ex, g, t = self.example, self.g, self.tex
        s = Section("A worked example")
        mode = ("every intermediate is rounded to {} decimals before it is used, as by hand"
                if ex.rounding == "by_hand" else
                "numbers are carried at full precision and rounded to {} decimals for display")
        given = [Tex(f"{t(x)} = {ex.show(ex.values[x.name])}") for x in g.leaves]
        parts: list[str] = ["We take "]
        for k, x in enumerate(given):
            parts += [x, ", " if k < len(given) - 1 else ""]
        parts += [" and the learning rate ", Tex(rf"\eta = {_plain(ex.learning_rate)}"),
                  "; " + mode.format(ex.digits) + "."]
        s.blocks.append(Paragraph(parts))
        fwd = Section("Forward pass")
        fwd.blocks.append(Equations([
            self.numbers(f"value of {v}", t(v), g.expr(v), ex.nodes[v.name]) for v in g.nodes
        ]))
        s.subsections.append(fwd)
        back = Section("Backward pass")
        eqs = []
        seen = set()
        for p in g.parameters:
            for path in ex.factors.get(p.name, []):
                for f in path:
                    key = (f.of, f.wrt)
                    if key in seen:
                        continue
                    seen.add(key)
                    lhs = t(sp.Derivative(g.symbol(f.of), g.symbol(f.wrt)))
                    eqs.append(self._factor_numbers(f, lhs))
        back.blocks.append(Paragraph(["The local derivatives at these values:"]))
        back.blocks.append(Equations(eqs))
        grads = []
        for p in g.parameters:
            paths = ex.factors.get(p.name, [])
            lhs = t(sp.Derivative(g.loss_symbol, p))
            if not paths:
                grads.append(Equation(f"gradient {p}", lhs, [Step([Tex(ex.show(0.0))])],
                                      _METHOD_WORDS["numbers"]))
                continue
            prods = [r" \cdot ".join(self._num(f.value) for f in path) for path in paths]
            total = sum(math.prod(f.value for f in path) for path in paths)
            if ex.rounding == "display" and not _close(total, ex.gradients[p.name]):
                raise VerificationError(f"equation 'gradient {p}' does not hold")
            if not _close(ex.gradients[p.name], self._engine_gradient(p), digits=ex.digits,
                          by_hand=ex.rounding == "by_hand"):
                raise VerificationError(f"equation 'gradient {p}' disagrees with the evaluator")
            shown = sum(math.prod(float(ex.show(f.value)) for f in path) for path in paths)
            rel = "=" if ex.show(shown) == ex.show(ex.gradients[p.name]) else r"\approx"
            grads.append(Equation(f"gradient {p}", lhs,
                                  [Step(self._lines(prods)),
                                   Step([Tex(ex.show(ex.gradients[p.name]))], rel)],
                                  _METHOD_WORDS["numbers"]))
            self.methods["numbers"] = self.methods.get("numbers", 0) + 1
        back.blocks.append(Paragraph(["Multiplying along the chains:"]))
        back.blocks.append(Equations(grads))
        s.subsections.append(back)
        upd = Section("Update")
        eqs = []
        eta = sp.Symbol("eta")
        for p in g.parameters:
            new = ex.updated[p.name]
            expected = ex.values[p.name] - ex.learning_rate * ex.gradients[p.name]
            if not _close(new, expected, digits=ex.digits, by_hand=ex.rounding == "by_hand"):
                raise VerificationError(f"equation 'update {p}' does not hold")
            grad = self._num(ex.gradients[p.name])
            shown = float(ex.show(ex.values[p.name])) - ex.learning_rate * float(
                ex.show(ex.gradients[p.name]))
            rel = "=" if ex.show(shown) == ex.show(new) else r"\approx"
            eqs.append(Equation(
                f"update {p}", Tex(rf"{{{t(p)}}}'"),
                [Step([Tex(rf"{t(p)} - {t(eta)} \frac{{\partial {t(g.loss_symbol)}}}"
                           rf"{{\partial {t(p)}}}")]),
                 Step([Tex(rf"{ex.show(ex.values[p.name])} - {_plain(ex.learning_rate)} "
                           rf"\cdot {grad}")]),
                 Step([Tex(ex.show(new))], rel)],
                _METHOD_WORDS["numbers"]))
            self.methods["numbers"] = self.methods.get("numbers", 0) + 1
        upd.blocks.append(Equations(eqs))
        s.subsections.append(upd)
        return s

    def _engine_gradient(self, p: sp.Symbol) -> float:
        values = self.example.values
        return float(self.d.evaluate(values).gradients[p.name])

    def _factor_numbers(self, f, lhs: Tex) -> Equation:
        return self.numbers(f"d{f.of}/d{f.wrt}", lhs, f.expr, f.value)

    def _num(self, x: float) -> str:
        s = self.example.show(x)
        return rf"\left({s}\right)" if s.startswith("-") else s

    def contrast(self) -> Section:
        d, g, t = self.d, self.g, self.tex
        s = Section("Without backpropagation")
        deep = g.parameters[0]
        expanded = d.gradient(deep)
        reused = d.gradient(deep, form="delta")
        big, small = sp.count_ops(expanded), sp.count_ops(reused)
        s.blocks.append(Paragraph([
            "Differentiating the expanded loss once per parameter gives, for ",
            Tex(t(deep)), f", an expression with {big} operations; reusing the error signals "
            f"gives one with {small}. Here is the expanded form:"
        ]))
        printed = t(expanded)
        if len(printed) < 6000:
            s.blocks.append(Equations([self.equation(f"expanded dL/d{deep}",
                                                     sp.Derivative(g.loss_symbol, deep),
                                                     (expanded, self._wrap(printed)))]))
        return s

    def _wrap(self, printed: str) -> list[Tex]:
        # Break a long product at \cdot-free spaces between top-level factors.
        out, depth, start = [], 0, 0
        for k, ch in enumerate(printed):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif printed.startswith(r"\left(", k):
                depth += 1
            elif printed.startswith(r"\right)", k):
                depth -= 1
            if depth == 0 and ch == " " and k - start > 90 and not printed.startswith(
                    r" \right", k):
                out.append(Tex(printed[start:k]))
                start = k + 1
        out.append(Tex(printed[start:]))
        return out

    def appendix(self) -> Section:
        s = Section("Appendix: derivatives of the activations")
        acts = set()
        for v in self.g.nodes:
            e = self.g.expr(v)
            acts |= {type(f).__name__ for f in sp.preorder_traversal(e) if isinstance(f, sp.Function)}
        if acts & {"sigmoid", "softplus"}:  # softplus' is σ
            s.subsections.append(self._sigmoid_appendix())
        if "tanh" in acts:
            s.subsections.append(self._tanh_appendix())
        if "softmax" in acts and self.g.one_hot_groups:
            s.subsections.append(self._softmax_appendix())
        return s

    def _steps(self, label: str, lhs: sp.Expr, truth: sp.Expr,
               steps: list[tuple[sp.Expr, str]], lhs_tex: Tex) -> Equation:
        """A chain of rewritings, each checked against ``truth`` (a derivative from scratch)."""
        out = []
        method = "identical"
        for k, (step, printed) in enumerate(steps, start=1):
            check = verify(elementary(truth), elementary(step), f"{label}, step {k}")
            method = _weaker(method, check.method)
            out.append(Step([Tex(printed)]))
        self.methods[method] = self.methods.get(method, 0) + 1
        return Equation(label, lhs_tex, out, _METHOD_WORDS[method])

    def _sigmoid_appendix(self) -> Section:
        x = sp.Symbol("x", real=True)
        s = Section("The sigmoid")
        truth = sp.diff(1 / (1 + sp.exp(-x)), x)
        s.blocks.append(Paragraph([
            "With ", Tex(r"\sigma(x) = \frac{1}{1 + e^{-x}}"),
            ", the quotient rule ", Tex(r"\left(\frac{f}{g}\right)' = \frac{f' g - f g'}{g^{2}}"),
            " with ", Tex("f = 1"), " and ", Tex(r"g = 1 + e^{-x}"), " gives:",
        ]))
        g, ex = 1 + sp.exp(-x), sp.exp(-x)
        sig = sigmoid(x)
        # Each step: the expression that is verified, and how a lecturer writes it.
        steps = [
            ((0 * g - 1 * (-ex)) / g**2,
             r"\frac{0 \cdot (1 + e^{-x}) - 1 \cdot (-e^{-x})}{(1 + e^{-x})^{2}}"),
            (ex / g**2, r"\frac{e^{-x}}{(1 + e^{-x})^{2}}"),
            ((1 / g) * (ex / g), r"\frac{1}{1 + e^{-x}} \cdot \frac{e^{-x}}{1 + e^{-x}}"),
            ((1 / g) * ((g - 1) / g),
             r"\frac{1}{1 + e^{-x}} \cdot \frac{(1 + e^{-x}) - 1}{1 + e^{-x}}"),
            ((1 / g) * (1 - 1 / g),
             r"\frac{1}{1 + e^{-x}} \left(1 - \frac{1}{1 + e^{-x}}\right)"),
            (sig * (1 - sig), r"\sigma(x) \bigl(1 - \sigma(x)\bigr)"),
        ]
        s.blocks.append(Equations([self._steps("sigma'", sp.Derivative(sigmoid(x), x), truth,
                                               steps, Tex(r"\sigma'(x)"))]))
        s.blocks.append(Paragraph([
            "The third line splits the fraction, the fourth writes ", Tex("e^{-x}"), " as ",
            Tex(r"(1 + e^{-x}) - 1"), ", and the last recognises ",
            Tex(r"\sigma(x) = \frac{1}{1 + e^{-x}}"),
            " twice. So a sigmoid unit's local derivative is its own value times one minus it."
        ]))
        return s

    def _tanh_appendix(self) -> Section:
        x = sp.Symbol("x", real=True)
        s = Section("The hyperbolic tangent")
        ex, emx = sp.exp(x), sp.exp(-x)
        truth = sp.diff((sp.exp(x) - sp.exp(-x)) / (sp.exp(x) + sp.exp(-x)), x)
        steps = [
            (((ex + emx) ** 2 - (ex - emx) ** 2) / (ex + emx) ** 2,
             r"\frac{(e^{x} + e^{-x})^{2} - (e^{x} - e^{-x})^{2}}{(e^{x} + e^{-x})^{2}}"),
            (1 - (ex - emx) ** 2 / (ex + emx) ** 2,
             r"1 - \frac{(e^{x} - e^{-x})^{2}}{(e^{x} + e^{-x})^{2}}"),
            (1 - sp.tanh(x) ** 2, r"1 - \tanh^{2} x"),
        ]
        s.blocks.append(Paragraph([
            "With ", Tex(r"\tanh x = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}"),
            ", the quotient rule gives:",
        ]))
        s.blocks.append(Equations([self._steps("tanh'", sp.Derivative(sp.tanh(x), x), truth,
                                               steps, Tex(r"\tanh'(x)"))]))
        return s

    def _softmax_appendix(self) -> Section:
        s = Section("Softmax with cross-entropy")
        z1, z2, z3 = sp.symbols("z1 z2 z3", real=True)
        y1, y2, y3 = sp.symbols("y1 y2 y3", real=True)
        zs, ys = (z1, z2, z3), (y1, y2, y3)
        p = [softmax(k, *zs) for k in (1, 2, 3)]
        loss = -sp.Add(*[y * sp.log(q) for y, q in zip(ys, p, strict=True)])
        truth = sp.diff(elementary(loss), z1).subs(y3, 1 - y1 - y2)
        pk = sp.Symbol("p_k")
        s.blocks.append(Paragraph([
            "With ", Tex(r"p_k = \frac{e^{z_k}}{\sum_j e^{z_j}}"), " the softmax satisfies ",
            Tex(r"\frac{\partial p_i}{\partial z_k} = p_i (\delta_{ik} - p_k)"),
            ", so for ", Tex(r"L = -\sum_i y_i \log p_i"), ":",
        ]))
        steps = [
            -sp.Add(*[m * (sp.KroneckerDelta(i, 1) - p[0]) for i, m in enumerate(ys, 1)]),
            sp.Add(-y1, p[0] * sp.Add(*ys, evaluate=False), evaluate=False),
        ]
        checks = []
        for k, st in enumerate(steps, 1):
            checks.append(verify(elementary(truth), elementary(st).subs(y3, 1 - y1 - y2),
                                 f"softmax cross-entropy, step {k}"))
        verify(elementary(truth), elementary(p[0] - y1), "softmax cross-entropy, result")
        self.methods["numeric"] = self.methods.get("numeric", 0) + 1
        eq = Equation(
            "softmax cross-entropy",
            Tex(r"\frac{\partial L}{\partial z_k}"),
            [Step([Tex(r"-\sum_i y_i \frac{1}{p_i} \, p_i (\delta_{ik} - p_k)")]),
             Step([Tex(r"-y_k + p_k \sum_i y_i")]),
             Step([Tex(r"p_k - y_k")])],
            _METHOD_WORDS["numeric"] + " (three classes, one-hot targets)",
        )
        s.blocks.append(Equations([eq]))
        s.blocks.append(Paragraph(["The last step uses ", Tex(r"\sum_i y_i = 1"),
                                   " (a one-hot target)."]))
        del pk
        return s


def _letters(l: str) -> dict[str, str]:  # noqa: E741
    return {"i": "i", "j": "j", "ij": "ij", "ji": "ji", "l": l, "n": "i",
            "lp1": f"{l}+1", "lm1": f"{l}-1"}


def _weaker(a: str, b: str) -> str:
    order = ["identical", "symbolic", "numeric"]
    return order[max(order.index(a), order.index(b))]


def _evaluate(expr: sp.Expr, values: dict) -> float:
    from .numeric import _number

    return _number(expr, values)


def _close(a: float, b: float, digits: int | None = None, by_hand: bool = False) -> bool:
    if by_hand and digits is not None:
        return abs(a - b) <= 10 * 10.0 ** (-digits) * max(1.0, abs(b))
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _plain(x: float) -> str:
    return f"{x:g}"


def tikz_network(d: Derivation, t: TexPrinter) -> Tex:
    """A TikZ drawing of the network, edges labelled with their weights."""
    g = d.graph
    if isinstance(g, MLP):
        return _tikz_mlp(g, t)
    return _tikz_graph(d, t)


def _tikz_mlp(net: MLP, t: TexPrinter) -> Tex:
    tall = max(net.sizes)
    dx, dy = 3.4, 1.7 if tall <= 4 else 1.2
    lines = [r"\begin{tikzpicture}[>=stealth, unit/.style={circle, draw, minimum size=11mm, "
             r"inner sep=1pt, font=\small}, w/.style={font=\scriptsize, fill=white, inner sep=1pt}]"]
    for l, n in enumerate(net.sizes):  # noqa: E741
        for j in range(1, n + 1):
            y = (n + 1) / 2 - j
            if l == 0:
                label = t(net.act(0, j))
            else:
                label = rf"{t(net.pre(l, j))}\,|\,{t(net.act(l, j))}"
            lines.append(rf"\node[unit] (n{l}-{j}) at ({l * dx:.2f},{y * dy:.2f}) {{${label}$}};")
    for l in range(1, len(net.sizes)):  # noqa: E741
        for i in range(1, net.sizes[l - 1] + 1):
            for j in range(1, net.sizes[l] + 1):
                pos = 0.3 if (i + j) % 2 else 0.55
                w = t(net.weight(l, i, j))
                lines.append(rf"\draw[->] (n{l - 1}-{i}) -- node[w, pos={pos}] {{${w}$}} "
                             rf"(n{l}-{j});")
    last = len(net.sizes) - 1
    lines.append(rf"\node[unit] (loss) at ({(last + 0.9) * dx:.2f},0) "
                 rf"{{${t(net.loss_symbol)}$}};")
    for j in range(1, net.sizes[-1] + 1):
        lines.append(rf"\draw[->, dashed] (n{last}-{j}) -- (loss);")
    if net.bias_mode:
        lines.append(rf"\node[font=\scriptsize, anchor=north] at ({last * dx / 2:.2f},"
                     rf"{-(tall / 2 + 0.2) * dy:.2f}) {{biases: "
                     + ("$-b$ (threshold)" if net.bias_mode == "threshold" else "$+b$") + "};")
    lines.append(r"\end{tikzpicture}")
    return Tex("\n".join(lines))


def _tikz_graph(d: Derivation, t: TexPrinter) -> Tex:
    """Inputs, nodes and the loss in columns by depth; a node's parameters are its label."""
    g = d.graph
    depth: dict[sp.Symbol, int] = {}
    for s in g.symbols:
        parents = [p for p in g.parents(s) if g.kind(p) is not Kind.PARAMETER]
        depth[s] = 1 + max((depth[p] for p in parents), default=-1)
    columns: dict[int, list[sp.Symbol]] = {}
    for s in g.symbols:
        if g.kind(s) in (Kind.TARGET, Kind.PARAMETER):
            continue
        columns.setdefault(depth[s], []).append(s)
    lines = [r"\begin{tikzpicture}[>=stealth, unit/.style={circle, draw, minimum size=9mm, "
             r"inner sep=1pt, font=\small}]"]
    ids = {}
    for c, syms in sorted(columns.items()):
        for k, s in enumerate(syms):
            ids[s] = f"v{len(ids)}"
            y = (len(syms) - 1) / 2 - k
            style = "unit" if g.kind(s) in (Kind.NODE, Kind.LOSS) else "unit, dashed"
            params = [p for p in g.parents(s) if g.kind(p) is Kind.PARAMETER]
            if params:
                names = ", ".join(t(p) for p in params)
                style += rf", label={{[font=\scriptsize]above:${names}$}}"
            lines.append(rf"\node[{style}] ({ids[s]}) at ({c * 2.6:.2f},{y * 1.6:.2f}) "
                         rf"{{${t(s)}$}};")
    for s in g.nodes:
        for p in g.parents(s):
            if p in ids:
                lines.append(rf"\draw[->] ({ids[p]}) -- ({ids[s]});")
    lines.append(r"\end{tikzpicture}")
    return Tex("\n".join(lines))


def build_document(
    derivation: Derivation,
    example: WorkedExample | None = None,
    *,
    title: str | None = None,
    author: str = "",
    appendix: bool = True,
    contrast: bool = False,
    matrix: bool | None = None,
) -> Document:
    """The notes for a derivation (and a worked example), every equation verified.

    >>> import symbackprop as sb
    >>> doc = build_document(sb.derive(sb.mlp([1, 1])), title="Tiny")
    >>> doc.title
    'Tiny'
    """
    n = len(derivation.graph.parameters)
    if n > MAX_NOTES_PARAMETERS:
        raise ValueError(
            f"the network has {n} parameters; notes write equations for every one and are "
            f"readable up to {MAX_NOTES_PARAMETERS}: for a network this size use the matrix "
            "form (symbackprop grad SPEC --matrix, or sb.matrix_form(net))"
        )
    options = {"title": title, "author": author, "appendix": appendix, "contrast": contrast,
               "matrix": matrix}
    return _Builder(derivation, example, options).build()
