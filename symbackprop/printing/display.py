"""How the engine's objects show themselves in Jupyter: Markdown tables, LaTeX, an SVG of a graph.

Each object's ``_repr_*_`` method calls one function here, lazily, so the engine modules stay
free of presentation code. Numbers are formatted here; symbols and expressions are printed as
the documents print them (the derivation's :class:`~symbackprop.printing.latex.TexPrinter`, the
graph's textbook spellings: δ_{z_1}, never δ_{z1}), and the SVG of a graph comes from a small
layered layout and a jinja2 template.

>>> import symbackprop as sb
>>> d = sb.derive(sb.mlp([2, 2, 1]))
>>> v = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
>>> print(sb.check_gradients(d, v)._repr_markdown_().splitlines()[6])
| $w_{5}$ | -0.0997525403 | -0.0997525403 | 1.8e-11 | ok |
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping

import jinja2
import numpy as np
import sympy as sp

from .latex import TexPrinter, symbol_latex

__all__ = [
    "evaluation_markdown", "gradient_check_markdown", "worked_example_markdown",
    "matrix_check_markdown", "batch_evaluator_markdown", "graph_svg", "delta_latex",
    "tex_names", "factor_latex", "form_latex", "check_report_markdown",
    "batched_evaluator_markdown", "notation_markdown", "document_markdown",
]

_KEY = re.compile(r"^(?P<stem>[A-Za-z]+?)(?P<digits>\d*)(?:_(?P<sub>[\w,]+))?"
                  r"(?:\^(?P<sup>[\[(]\w+[\])]))?$")


def tex_names(graph) -> dict[str, str]:
    """Every symbol's name -> its LaTeX as the documents print it (the graph's own spelling).

    >>> import symbackprop as sb
    >>> tex_names(sb.mlp([1, 1], notation="layered"))["w_11^(1)"]
    'w_{11}^{(1)}'
    """
    return {s.name: graph.latex_name(s) or symbol_latex(s.name) for s in graph.symbols}


def key_latex(name: str) -> str:
    """A value key (x1, w_11^(1), h_2,1, yhat_2) in the documents' spelling, for a table that
    has no graph to ask: x_{1}, w_{11}^{(1)}, h_{2,1}, \\hat{y}_{2}.

    >>> key_latex("w_11^(1)"), key_latex("yhat_2"), key_latex("x1")
    ('w_{11}^{(1)}', '\\\\hat{y}_{2}', 'x_{1}')
    """
    m = _KEY.match(name)
    if not m or (m["digits"] and m["sub"]):
        return symbol_latex(name)
    stem = symbol_latex(m["stem"])
    sub = m["digits"] or m["sub"]
    return stem + (f"_{{{sub}}}" if sub else "") + (f"^{{{m['sup']}}}" if m["sup"] else "")


def _tex_name(name: str, names: Mapping[str, str] | None = None) -> str:
    return f"${(names or {}).get(name) or key_latex(name)}$"


def _number(x) -> str:
    try:
        return f"{float(x):.9g}"
    except (TypeError, ValueError):  # an array: its shape and range

        a = np.asarray(x, dtype=float)
        return f"array {a.shape}, {a.min():.6g} … {a.max():.6g}" if a.size else "array ()"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _values_table(title: str, values: Mapping[str, object], show=_number,
                  names: Mapping[str, str] | None = None) -> str:
    rows = [[_tex_name(k, names), show(v)] for k, v in values.items()]
    return f"**{title}**\n\n" + _table(["", "value"], rows) if rows else ""


def evaluation_markdown(ev) -> str:
    """An Evaluation: loss, then nodes, δs and gradients as tables."""
    names = getattr(ev, "names", None)
    parts = [f"**loss** {_number(ev.loss)}",
             _values_table("nodes", ev.nodes, names=names),
             _values_table("δ = ∂L/∂node", ev.deltas, names=names),
             _values_table("gradients", ev.gradients, names=names)]
    return "\n\n".join(p for p in parts if p)


def gradient_check_markdown(check) -> str:
    """A GradientCheck: one row per parameter, and the verdict."""
    rows = []
    names = getattr(check, "names", None)
    for r in check.rows:
        status = r.status.replace("WRONG", "**WRONG**")
        rows.append([_tex_name(r.name, names), f"{r.engine:.9g}", f"{r.finite_difference:.9g}",
                     f"{r.error:.2g}", status])
    verdict = ("**some gradients disagree**" if not check.ok
               else f"the checked gradients agree; {len(check.unchecked)} unchecked"
               if check.unchecked else "all gradients agree")
    return (_table(["parameter", "engine", "finite difference", "error", "status"], rows)
            + f"\n\nmax error {check.max_error:.2e} (rtol {check.rtol:g}, atol {check.atol:g}): "
            + verdict)


def worked_example_markdown(ex) -> str:
    """A WorkedExample: forward values, δs, gradients and the update, at its digits."""
    g = ex.derivation.graph
    names = tex_names(g)
    rows = [[_tex_name(p.name, names), ex.show(ex.values[p.name]), ex.show(ex.gradients[p.name]),
             ex.show(ex.updated[p.name])] for p in g.parameters]
    head = (f"**Worked example**: {ex.rounding.replace('_', ' ')} rounding, {ex.digits} "
            f"decimals, learning rate {ex.learning_rate:g}; loss {ex.show(ex.loss)}")
    parts = [head, _values_table("forward pass", ex.nodes, ex.show, names),
             _values_table("δ = ∂L/∂node", ex.deltas, ex.show, names),
             "**gradients and one update step**\n\n"
             + _table(["parameter", "value", "∂L/∂parameter", "updated"], rows)]
    return "\n\n".join(p for p in parts if p)


def matrix_check_markdown(report) -> str:
    """A MatrixCheck: one row per matrix equation."""
    rows = [[r.kind, str(r.layer), f"{r.error:.2e}", "ok" if r.ok else "**WRONG**"]
            for r in report.rows]
    sizes = "-".join(map(str, report.sizes))
    return (_table(["equation", "layer", "relative error", "status"], rows)
            + f"\n\nsizes {sizes}, batch {report.batch}: "
            + ("every equation agrees" if report.ok else "**some equations disagree**"))


def check_report_markdown(report) -> str:
    """Any check report: its text, one row per equation or parameter."""
    return f"```text\n{report}\n```"


def batch_evaluator_markdown(evaluator) -> str:
    """A BatchEvaluator: what it computes and its generated code."""
    form = evaluator.form
    sizes = "-".join(map(str, form.sizes))
    return (f"**BatchEvaluator** ({evaluator.backend}) of the {sizes} "
            f"{'/'.join(form.activations)} net with {form.loss_name} loss\n\n"
            f"```python\n{evaluator.source.rstrip()}\n```")


def _printer(derivation):
    """The documents' printer of ``derivation`` (None: SymPy's, for an object without one)."""
    return sp.latex if derivation is None else TexPrinter(derivation)


def delta_latex(delta) -> str:
    """A Delta: its recursion and its value in node symbols, in the documents' notation."""
    t = _printer(getattr(delta, "_derivation", None))
    lines = [rf"{t(delta.symbol)} &= {t(delta.recursion)}"]
    if delta.value != delta.recursion:
        lines.append(rf"&= {t(delta.value)}")
    note = r"\quad\text{(" + ", ".join(delta.assumes) + ")}" if delta.assumes else ""
    return r"$\displaystyle \begin{aligned}" + r" \\ ".join(lines) + note + r"\end{aligned}$"


def factor_latex(factor) -> str:
    """A Factor of a chain: ∂of/∂wrt and its local result."""
    t = _printer(getattr(factor, "_derivation", None))
    return f"$\\displaystyle {t(factor.derivative)} = {t(factor.result)}$"


def form_latex(form) -> str:
    """A form's equations (scalar, matrix or general), one aligned line each, as ``latex()``
    prints them for the documents."""
    body = r" \\ ".join(line.replace(" = ", " &= ", 1) for line in form.latex())
    return rf"$\displaystyle \begin{{aligned}} {body} \end{{aligned}}$"


def batched_evaluator_markdown(evaluator) -> str:
    """A BatchedEvaluator: which general form, at which sizes, on which backend."""
    form = evaluator.form
    sizes = ", ".join(f"${form.printer.doprint(form.sizes[k])} = {v}$"
                      for k, v in evaluator.sizes.items())
    return (f"**BatchedEvaluator** ({evaluator.backend}) of the general form of "
            f"{form.title} at {sizes}: the loss and "
            f"{len(evaluator.equations)} error signals and gradients per call")


def notation_markdown(notation) -> str:
    """A Notation: each role and its LaTeX spelling, as the documents print it."""
    rows = [[role.replace("_", " "), f"${notation.latex_general(role)}$"]
            for role in notation.latexes]
    return f"**{notation.name}** notation\n\n" + _table(["role", "spelling"], rows)


def document_markdown(document, limit: int = 12) -> str:
    """A Document: its title, how many equations were checked, and the first ``limit`` of
    them as the notes print them."""
    rows = [f"{eq.lhs} &= " + " = ".join(" ".join(step.lines) for step in eq.steps)
            for eq in document.equations[:limit]]
    more = len(document.equations) - limit
    if more > 0:
        rows.append(rf"&\;\vdots \quad \text{{({more} more)}}")
    body = " \\\\\n".join(rows)
    return (f"**{document.title}**: {document.checked} equations, each checked before it "
            f"was printed\n\n$$\\begin{{aligned}}\n{body}\n\\end{{aligned}}$$")


_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="{{ width }}" height="{{ height }}" \
font-family="sans-serif" font-size="12">
{% for e in edges %}<line x1="{{ e.x1 }}" y1="{{ e.y1 }}" x2="{{ e.x2 }}" y2="{{ e.y2 }}" \
stroke="#999" stroke-width="1"/>
{% endfor %}{% for n in nodes %}<g><title>{{ n.title }}</title>\
<circle cx="{{ n.x }}" cy="{{ n.y }}" r="{{ radius }}" fill="{{ n.fill }}" stroke="#333"/>\
<text x="{{ n.x }}" y="{{ n.y + 4 }}" text-anchor="middle">{{ n.label }}</text></g>
{% endfor %}</svg>"""

_FILL = {"input": "#dbe9f6", "target": "#f6e3db", "parameter": "#fff4c2", "node": "#e4f3e0",
         "loss": "#f3d9e8"}


#: LaTeX commands of the builders' names, as the characters they print.
_UNICODE = {r"\alpha": "α", r"\beta": "β", r"\gamma": "γ", r"\delta": "δ", r"\mu": "μ",
            r"\sigma": "σ", r"\epsilon": "ε", r"\left(": "(", r"\right)": ")", r"\,": ""}
_ACCENTS = {"hat": "\u0302", "tilde": "\u0303", "bar": "\u0304"}
_ACCENTED = re.compile(r"\\(hat|tilde|bar)\{(\\?[A-Za-z]+)\}")
_SCRIPT = re.compile(r"([_^])(\{[^{}]*\}|.)")


def unicode_label(latex: str) -> list[tuple[str, str]]:
    r"""A symbol's LaTeX name as printed text: (text, "" | "sub" | "sup") runs, for SVG.

    >>> unicode_label(r"\hat{y}_{1}")
    [('ŷ', ''), ('1', 'sub')]
    >>> unicode_label(r"\gamma_{2}^{[3]}")
    [('γ', ''), ('2', 'sub'), ('[3]', 'sup')]
    """
    text = _ACCENTED.sub(lambda m: _UNICODE.get(m[2], m[2]) + _ACCENTS[m[1]], latex)
    for command, char in _UNICODE.items():
        text = text.replace(command, char)
    text = re.sub(r"\\operatorname\{([^{}]*)\}", r"\1", text)
    runs: list[tuple[str, str]] = []
    at = 0
    for m in _SCRIPT.finditer(text):
        if m.start() > at:
            runs.append((text[at:m.start()].replace("{", "").replace("}", ""), ""))
        runs.append((m[2].strip("{}").replace("{", "").replace("}", ""),
                     "sub" if m[1] == "_" else "sup"))
        at = m.end()
    if at < len(text):
        runs.append((text[at:].replace("{", "").replace("}", ""), ""))
    return [(_composed(t), k) for t, k in runs if t]


def _composed(text: str) -> str:
    """One character where Unicode has one (y + combining hat: ŷ)."""
    return unicodedata.normalize("NFC", text)


def _svg_text(runs: list[tuple[str, str]]) -> tuple[str, float]:
    """The runs as SVG tspans (scripts smaller, raised or lowered), and their width in px."""
    out, width, shift = [], 0.0, 0
    for text, kind in runs:
        want = {"": 0, "sub": 4, "sup": -5}[kind]
        size = ' font-size="9"' if kind else ""
        out.append(f'<tspan dy="{want - shift}"{size}>{html.escape(text)}</tspan>')
        shift = want
        width += sum(1 for c in text if not unicodedata.combining(c)) * (5.4 if kind else 7.2)
    if shift:
        out.append(f'<tspan dy="{-shift}"></tspan>')
    return "".join(out), width


def graph_svg(graph, max_symbols: int = 200) -> str:
    """An SVG of the graph: leaves on the left, each node one column after its last parent.

    Parameters are left out past ``max_symbols`` symbols (a large net is a wall of weights).
    """

    symbols = list(graph.symbols)
    kinds = {s: graph.kind(s).value for s in symbols}
    if len(symbols) > max_symbols:
        symbols = [s for s in symbols if kinds[s] != "parameter"]
    keep = set(symbols)
    depth: dict[sp.Symbol, int] = {}
    for s in symbols:
        parents = [p for p in graph.parents(s) if p in keep] if kinds[s] in ("node", "loss") else []
        depth[s] = 1 + max((depth[p] for p in parents), default=-1)
    columns: dict[int, list[sp.Symbol]] = {}
    for s in symbols:
        columns.setdefault(depth[s], []).append(s)
    labels = {s: _svg_text(unicode_label(graph.latex_name(s) or s.name)) for s in symbols}
    # Every circle as wide as the widest label needs, the columns and rows spaced to match.
    radius = max(17, round(max((w for _, w in labels.values()), default=0) / 2 + 5))
    step_x, step_y = max(90, 2 * radius + 40), max(44, 2 * radius + 10)
    tallest = max((len(c) for c in columns.values()), default=1)
    height = step_y * tallest + 20
    where = {}
    for col, members in columns.items():
        top = (height - step_y * len(members)) / 2 + step_y / 2
        for k, s in enumerate(members):
            where[s] = (radius + 23 + step_x * col, top + step_y * k)
    edges = [dict(x1=where[p][0] + radius, y1=where[p][1], x2=where[s][0] - radius,
                  y2=where[s][1])
             for s in symbols if kinds[s] in ("node", "loss")
             for p in graph.parents(s) if p in keep]
    nodes = [dict(x=where[s][0], y=where[s][1], fill=_FILL[kinds[s]], label=labels[s][0],
                  title=html.escape(f"{kinds[s]} {s.name}"
                                    + (f" = {graph.expr(s)}" if kinds[s] in ("node", "loss") else "")))
             for s in symbols]
    template = jinja2.Environment(autoescape=False).from_string(_SVG)
    return template.render(width=2 * radius + 46 + step_x * max(columns, default=0), height=height,
                           edges=edges, nodes=nodes, radius=radius)
