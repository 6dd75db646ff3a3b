"""Printing SymPy expressions as LaTeX in a notation: the bridge between engine and templates.

A SymPy printer that dispatches on type (``_print_<Class>``) and spells every symbol through a
name map built from the graph's notation, so ``yhat`` prints as ``\\hat{y}`` and ``delta_z3`` as
``\\delta_{z_{3}}``. Also the escaping of user text for LaTeX and Markdown.

>>> import symbackprop as sb
>>> net = sb.mlp([2, 2, 1]); d = sb.derive(net)
>>> tex = TexPrinter(d)
>>> tex(d.local(net.symbol("yhat"), net.symbol("z3")))
'\\\\hat{y} \\\\left(1 - \\\\hat{y}\\\\right)'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.latex import LatexPrinter

if TYPE_CHECKING:  # printers read a derivation; they sit below it and never import it at run time
    from ..derivation.reverse import Derivation

__all__ = ["TexPrinter", "Tex", "widths_latex", "escape_latex", "escape_markdown", "symbol_latex",
           "typesettable", "untypesettable"]


class Tex(str):
    """A string of LaTeX that the engine made: templates emit it raw (all other text is escaped)."""

    __slots__ = ()


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "%": r"\%",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
# Math characters that users (and our notation descriptions) write in prose; inputenc's utf8
# does not know them, so they become the matching math commands.
_UNICODE_MATH = {
    "Σ": r"\Sigma", "σ": r"\sigma", "φ": r"\varphi", "δ": r"\delta", "η": r"\eta",
    "θ": r"\theta", "λ": r"\lambda", "μ": r"\mu", "∂": r"\partial", "ŷ": r"\hat{y}",
    "−": "-", "≥": r"\geq", "≤": r"\leq", "≠": r"\neq", "≈": r"\approx", "→": r"\to",
    "⊙": r"\odot", "′": "'", "·": r"\cdot", "×": r"\times", "∇": r"\nabla", "ᵀ": "^{T}",
}
_LATEX_SPECIALS.update({k: rf"\ensuremath{{{v}}}" for k, v in _UNICODE_MATH.items()})
_LATEX_SPECIALS["…"] = r"\ldots{}"
_LATEX_RE = re.compile("|".join(re.escape(c) for c in _LATEX_SPECIALS))


# Beyond ASCII, what T1 fonts with inputenc's utf8 typeset: Latin-1's letters, Latin
# Extended-A, common punctuation, and the math characters above.
_TYPESET_EXTRA = frozenset(
    [chr(c) for c in range(0xC0, 0x180) if chr(c) not in "×÷ĦħĸĿŀŉŦŧſ"]  # t1enc.dfu's
    + list("“”‘’–—«»¿¡§©°\u00a0…") + list(_UNICODE_MATH)
)


#: Equal widths in a row from which a list of layer widths is written as one braced run.
LONGEST_WRITTEN_RUN = 4


def widths_latex(sizes, separator: str) -> str:
    r"""Layer widths joined by ``separator``, a run of more than ``LONGEST_WRITTEN_RUN`` equal
    ones written as its first and last under a brace that counts them: a 202-layer chain's
    title stays one line.

    >>> print(widths_latex([2, 2, 1], r"\text{-}"))
    2\text{-}2\text{-}1
    >>> print(widths_latex([3] + [1] * 6 + [2], ", "))
    3, \underbrace{1, \ldots, 1}_{6}, 2
    """
    dots = r"\cdots" if separator.strip() in ("", "-", r"\text{-}") else r"\ldots"
    parts, i = [], 0
    while i < len(sizes):
        j = i
        while j < len(sizes) and sizes[j] == sizes[i]:
            j += 1
        if j - i > LONGEST_WRITTEN_RUN:
            parts.append(rf"\underbrace{{{sizes[i]}{separator}{dots}{separator}{sizes[i]}}}_{{{j - i}}}")
        else:
            parts.extend(str(n) for n in sizes[i:j])
        i = j
    return separator.join(parts)


def typesettable(ch: str, language: str = "en") -> bool:
    """Whether a document in ``language`` can typeset the character ``ch`` in prose (a title,
    an author).

    The one place that decides it: a language that brings its own fonts extends it here
    (Korean documents load kotex, which typesets Hangul).

    >>> typesettable("é"), typesettable("σ"), typesettable("역"), typesettable("역", "ko")
    (True, True, False, True)
    """
    if (" " <= ch <= "~") or ch in "\n\t" or ch in _TYPESET_EXTRA:
        return True
    return language == "ko" and any(lo <= ord(ch) <= hi for lo, hi in _HANGUL)


#: Hangul syllables, jamo and compatibility jamo: what kotex typesets with the Nanum fonts.
_HANGUL = ((0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F))


def untypesettable(text: str, language: str = "en") -> str | None:
    """The first character of ``text`` that documents in ``language`` cannot typeset,
    described; else None.

    >>> untypesettable("Backprop, é"), untypesettable("역전파"), untypesettable("역전파", "ko")
    (None, "'역' (U+C5ED)", None)
    """
    for ch in text:
        if not typesettable(ch, language):
            return f"{ch!r} (U+{ord(ch):04X})"
    return None


def escape_latex(text: str) -> str:
    """Escape user text for LaTeX so that it prints as itself and runs no command.

    >>> escape_latex(r"50% of \\input{x}")
    '50\\\\% of \\\\textbackslash{}input\\\\{x\\\\}'
    """
    text = "".join(ch for ch in str(text) if ch.isprintable() or ch in "\n\t")
    # A blank line is \par, which ends \title{...} or \author{...} with an error: keep one newline.
    text = re.sub(r"\n\s*\n", "\n", text)
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIALS[m.group()], text)


_MD_RE = re.compile(r"([\\`*_{}\[\]<>()#+!|$~])")


def escape_markdown(text: str) -> str:
    """Escape user text for Markdown (and the math that Jupyter/MkDocs find in ``$``).

    >>> escape_markdown("a_b $x$")
    'a\\\\_b \\\\$x\\\\$'
    """
    text = "".join(ch for ch in str(text) if ch.isprintable() or ch in "\n\t")
    text = re.sub(r"\s*\n\s*", " ", text)  # a newline would end a heading or an *emphasis*
    return _MD_RE.sub(r"\\\1", text)


_SIMPLE = re.compile(r"^([A-Za-z]+?)(\d*)$")
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega",
}


def symbol_latex(name: str) -> str:
    """A LaTeX spelling for a bare name: x1 -> x_{1}, yhat -> \\hat{y}, others upright-safe.

    >>> symbol_latex("x1"), symbol_latex("yhat"), symbol_latex("w_11^(2)")
    ('x_{1}', '\\\\hat{y}', '\\\\mathit{w\\\\_11\\\\textasciicircum{}(2)}')
    """
    m = _SIMPLE.match(name)
    if m:
        stem, digits = m.groups()
        if stem.endswith("hat") and len(stem) > 3:
            stem = rf"\hat{{{stem[:-3]}}}"
        elif stem in _GREEK:
            stem = "\\" + stem
        elif len(stem) > 1:
            stem = rf"\mathrm{{{stem}}}"
        return f"{stem}_{{{digits}}}" if digits else stem
    return rf"\mathit{{{escape_latex(name)}}}"


class TexPrinter(LatexPrinter):
    """SymPy's LaTeX printer with the derivation's notation and ∂ fractions.

    Call it on an expression to get :class:`Tex`.
    """

    printmethod = "_latex"

    def __init__(self, derivation: Derivation, **settings) -> None:
        super().__init__({"mul_symbol": None, **settings})
        g = derivation.graph
        self.names: dict[sp.Symbol, str] = {
            s: (g.latex_name(s) or symbol_latex(s.name)) for s in g.symbols
        }
        for v, s in derivation.delta_symbols.items():
            self.names[s] = derivation.delta_latex(v) or rf"\delta_{{{self.names[v]}}}"

    def __call__(self, expr: sp.Expr) -> Tex:
        return Tex(self.doprint(expr))

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        if expr in self.names:
            return self.names[expr]
        return symbol_latex(expr.name)

    _print__DeltaSymbol = _print_Symbol

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        (var, count), = expr.variable_count
        num = self._print(expr.expr)
        den = self._print(var)
        power = f"^{{{count}}}" if count != 1 else ""
        return rf"\frac{{\partial{power} {num}}}{{\partial {den}{power}}}"

    def _print_Add(self, expr: sp.Add, order=None) -> str:
        # Lead with a positive term, as people write: ŷ − y rather than −y + ŷ.
        terms = list(self._as_ordered_terms(expr, order=order))
        if terms and terms[0].could_extract_minus_sign():
            first = next((k for k, t in enumerate(terms) if not t.could_extract_minus_sign()), None)
            if first is not None:
                terms.insert(0, terms.pop(first))
        tex = ""
        for k, term in enumerate(terms):
            if k and term.could_extract_minus_sign():
                tex += " - "
                term = -term
            elif k:
                tex += " + "
            printed = self._print(term)
            if self._needs_add_brackets(term):
                printed = rf"\left({printed}\right)"
            tex += printed
        return tex

    def _print_Heaviside(self, expr: sp.Heaviside, exp=None) -> str:
        # H(z) with H(0) = 0: the indicator 1[z > 0], as ML texts write the ReLU derivative.
        body = rf"\mathbb{{1}}\left[{self._print(expr.args[0])} > 0\right]"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def _print_KroneckerDelta(self, expr, exp=None) -> str:
        i, j = expr.args
        body = rf"\delta_{{{self._print(i)} {self._print(j)}}}"
        return body if exp is None else rf"{body}^{{{exp}}}"

    # -- products and sums in the order the derivation gives -----------------------------------
    def factor(self, expr: sp.Expr) -> str:
        """``expr`` as a factor of a product: parenthesised if it is a sum or negative."""
        s = self._print(expr)
        if isinstance(expr, sp.Add) or s.startswith("-"):
            return rf"\left({s}\right)"
        return s

    def product(self, factors: Sequence[sp.Expr], sep: str = r" \cdot ") -> Tex:
        """Factors joined in the given order (SymPy would sort them)."""
        if not factors:
            return Tex("1")
        first, *rest = factors
        return Tex(sep.join([self._print(first) if not isinstance(first, sp.Add)
                             else self.factor(first), *(self.factor(f) for f in rest)]))

    def terms(self, terms: Iterable[str]) -> Tex:
        """Already printed terms joined by + (a leading − is kept as a minus)."""
        out = ""
        for t in terms:
            if not out:
                out = t
            elif t.startswith("-"):
                out += " - " + t[1:].lstrip()
            else:
                out += " + " + t
        return Tex(out or "0")


def derivation_latex(derivation: Derivation, limit: int = 12) -> str:
    """The gradients of a derivation as one aligned block, for Jupyter's ``_repr_latex_``.

    >>> import symbackprop as sb
    >>> derivation_latex(sb.derive(sb.mlp([1, 1])))[:30]
    '$\\\\displaystyle \\\\begin{aligned}'
    """
    t = TexPrinter(derivation)
    g = derivation.graph
    rows = []
    for p in g.parameters[:limit]:
        lhs = t(sp.Derivative(g.loss_symbol, p))
        delta = derivation.gradient(p, form="delta")
        rows.append(f"{lhs} &= {t(delta)} = {t(derivation.gradient(p, form='intermediate'))}")
    if len(g.parameters) > limit:
        rows.append(rf"&\;\vdots \quad \text{{({len(g.parameters) - limit} more)}}")
    return "$\\displaystyle \\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$"


def chain_latex(derivation: Derivation, chain) -> str:
    """A chain-rule factorisation with its local results, for Jupyter."""
    t = TexPrinter(derivation)
    symbolic = t.terms([t.product([f.derivative for f in path], sep=" ") for path in chain.paths])
    results = t.terms([t.product([f.result for f in path]) for path in chain.paths])
    lhs = t(sp.Derivative(chain.loss, chain.parameter))
    return f"$\\displaystyle {lhs} = {symbolic} = {results}$"
