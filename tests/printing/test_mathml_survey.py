"""Every LaTeX string the gallery's documents hold, converted to MathML: nothing dropped, nothing
left unconverted, and every display equation the aligned LaTeX the Markdown notes print.

The survey builds each spec's Document as `symbackprop notes` does (English and Korean, with
and without its worked example, in matrix form where the spec is an MLP, with the appendix),
collects the equations' left-hand sides, lines and notes, the math in paragraphs and
headings, the drawing's labels and all the math of the rendered Markdown, and converts each.
`make test` runs a handful of representative specs; `-m slow` every spec.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import symbackprop as sb
from symbackprop.check.worked import worked_example
from symbackprop.core import ops
from symbackprop.core.notation import NOTATIONS
from symbackprop.document import build_document
from symbackprop.document.model import Equations, Figure
from symbackprop.io.spec import load_spec
from symbackprop.io.spec.spelling import LATEX_COMMANDS, latex_problem
from symbackprop.printing.latex import Tex
from symbackprop.printing.mathml import MATHML_NS, aligned_latex, equation_mathml, tex_to_mathml

M = "{" + MATHML_NS + "}"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
#: Spec files of the gallery (seed000-claims.toml is a teaching key, not a spec).
SPECS = sorted(p.name for p in EXAMPLES.glob("*.toml") if "claims" not in p.name)
#: In make test, one document each (spec, language, with its example, matrix form): seed 000 in
#: both languages, its matrix form, a softmax classifier in matrix notation, a convolution
#: (\substack, \mathrm in scripts), an RNN (Goodfellow's δ^{o}).
FAST = [("seed000.toml", "en", True, None), ("seed000.toml", "ko", True, None),
        ("seed000.toml", "en", False, True), ("seed004.toml", "en", True, None),
        ("model-conv1d.toml", "en", True, None), ("model-rnn.toml", "en", True, None)]

_MATH = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<!\\)\$(.+?)(?<!\\)\$", re.S)
_COMMAND = re.compile(r"\\[A-Za-z]+")


def documents(name: str, languages=("en", "ko"), examples=(True, False), matrices=(None, True)):
    """The spec's Documents as `notes` builds them, in every variant asked for (matrix form
    only for an MLP)."""
    spec = load_spec(EXAMPLES / name)
    d = sb.derive(spec.graph)
    values = spec.values
    example = None
    if values and all(s.name in values for s in spec.graph.leaves):
        example = worked_example(d, values, learning_rate=spec.learning_rate or 0.1,
                                 digits=spec.digits or 3, rounding=spec.rounding or "display")
    title = None if getattr(spec.graph, "heading", None) else spec.title
    matrices = matrices if isinstance(spec.graph, sb.MLP) else (None,)
    for language in languages:
        for ex in ([example] if example and True in examples else []) + \
                ([None] if False in examples or not example else []):
            for matrix in matrices:
                yield build_document(d, ex, title=title, author=spec.author, language=language,
                                     matrix=matrix, only=spec.only)


def tex_strings(obj, out: list[str]) -> list[str]:
    """Every Tex a Document holds, and the math of its drawings' labels."""
    if isinstance(obj, Tex):
        out.append(str(obj))
    elif isinstance(obj, Figure):
        for tikz in (obj.tikz, obj.walked or ""):
            out.extend(m.group(2) for m in _MATH.finditer(tikz) if m.group(2))
        tex_strings(obj.caption, out)
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            tex_strings(getattr(obj, f.name), out)
    elif isinstance(obj, dict):
        for v in obj.values():
            tex_strings(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            tex_strings(v, out)
    return out


def equations(doc) -> list:
    out = []
    for section in doc.sections:
        for sub in section.walk():
            out += [eq for b in sub.blocks if isinstance(b, Equations) for eq in b.equations]
    return out


def steps_of(eq) -> list[tuple]:
    return [(s.relation, s.lines, s.note) for s in eq.steps]


def letters(tex: str) -> collections.Counter:
    """The letters and digits a LaTeX string shows: outside command names and environments."""
    tex = re.sub(r"\\(begin|end)\{[^}]*\}", "", tex.replace(r"\ell", "ℓ"))
    return collections.Counter(c for c in _COMMAND.sub(" ", tex) if _letter(c))


def _letter(c: str) -> bool:
    # Latin letters and digits (Greek comes from commands, counted by neither side), and ℓ
    return (c.isascii() and c.isalnum()) or c == "ℓ"


def shown(root: ET.Element, tex: str) -> collections.Counter:
    """The letters and digits a MathML tree shows, function names the LaTeX spells as commands
    (\\tanh, \\log) aside, mathematical alphabets (𝐖, ℒ) read as their letters."""
    commands = {c[1:] for c in _COMMAND.findall(tex)}
    out: collections.Counter = collections.Counter()
    for e in root.iter():
        text = (e.text or "").strip()
        if text in commands:
            continue
        out.update(c for c in (text if "ℓ" in text else unicodedata.normalize("NFKC", text))
                   if _letter(c))
    return out


def problems(tex: str, display: bool = False) -> list[str]:
    """What is wrong with the MathML of ``tex``: an empty list when nothing is."""
    root = ET.fromstring(tex_to_mathml(tex, display=display))  # well-formed XML, or an error
    return (["alttext is not the LaTeX"] if root.get("alttext") != tex else []) + flaws(root, tex)


def flaws(root: ET.Element, tex: str) -> list[str]:
    """What is wrong with ``root``, the MathML converted from ``tex``."""
    out = []
    for e in root.iter():
        tag, text = e.tag.removeprefix(M), e.text or ""
        if tag == "merror":
            out.append("merror")
        if tag in ("mi", "mo", "mn", "mtext") and ("\\" in text and text.strip() != "\\"):
            out.append(f"a command left unconverted in <{tag}>{text}")
        if tag == "mi" and text == "&":
            out.append("an alignment mark became an identifier")
        if tag in ("mo", "mn") and not text.strip():
            out.append(f"an empty <{tag}>")
        if any(0xE000 <= ord(c) <= 0xF8FF for c in text):
            out.append("a held-back name was not put back")
    if letters(tex) != shown(root, tex):
        out.append(f"letters differ: dropped {letters(tex) - shown(root, tex)}, "
                   f"added {shown(root, tex) - letters(tex)}")
    return out


def equation_flaws(eq) -> list[str]:
    """What is wrong with an equation's MathML table: its rows, its alttext, each cell."""
    aligned = aligned_latex(eq.lhs, steps_of(eq))
    root = ET.fromstring(equation_mathml(eq.lhs, steps_of(eq)))
    if root.get("alttext") != aligned:
        return ["its alttext is not its aligned LaTeX"]
    rows = root.findall(f"{M}mtable/{M}mtr")
    wanted = [(eq.lhs if not r and not k else None, s.relation if not k else None,
               line if k < len(s.lines) - 1 or not s.note else f"{line} {s.note}")
              for r, s in enumerate(eq.steps) for k, line in enumerate(s.lines)]
    if len(rows) != len(wanted):
        return [f"{len(rows)} rows for {len(wanted)} lines"]
    out = []
    for row, texts in zip(rows, wanted, strict=True):
        for cell, tex in zip(row.findall(f"{M}mtd"), texts, strict=True):
            out += flaws(cell, tex) if tex is not None else ["a filled cell"] * bool(len(cell))
    return out


def survey(docs) -> tuple[int, dict[str, list[str]]]:
    """(how many distinct strings, {string: its problems}) over the documents: every Tex,
    every equation as its table, the math of the rendered Markdown."""
    seen: set[str] = set()
    bad: dict[str, list[str]] = {}
    for doc in docs:
        markdown = sb.render(doc, "markdown")
        blocks = {m.group(1).strip() for m in _MATH.finditer(markdown) if m.group(1)}
        for eq in equations(doc):
            aligned = aligned_latex(eq.lhs, steps_of(eq))
            if aligned not in seen:
                seen.add(aligned)
                found = equation_flaws(eq) + (["not the Markdown notes' aligned LaTeX"]
                                              if aligned not in blocks else [])
                if found:
                    bad[aligned] = found
        inline = [m.group(2) for m in _MATH.finditer(markdown) if m.group(2)]
        for tex in tex_strings(doc, []) + inline:
            if tex not in seen:
                seen.add(tex)
                found = problems(tex)
                if found:
                    bad[tex] = found
    return len(seen), bad


def test_the_survey_finds_what_it_looks_for():
    # each check can fail: a dropped letter, a command left as text, an identifier &
    assert letters(r"\frac{a}{b_{1}}") == collections.Counter("ab1")
    root = ET.fromstring(tex_to_mathml(r"\frac{a}{b_{1}}"))
    root[0][1].text = "c"  # b is now c: dropped b, added c
    assert letters(r"\frac{a}{b_{1}}") != shown(root, r"\frac{a}{b_{1}}")
    assert problems(r"\tanh x") == []
    assert shown(ET.fromstring(tex_to_mathml(r"\mathbf{W} \mathcal{L}")), "") == collections.Counter("WL")


def test_representative_specs_convert_completely():
    count, bad = survey(doc for name, language, worked, matrix in FAST
                        for doc in documents(name, (language,), (worked,), (matrix,)))
    assert count > 1000
    assert not bad, "\n".join(f"{tex[:120]!r}: {p}" for tex, p in list(bad.items())[:10])


@pytest.mark.slow
@pytest.mark.parametrize("name", SPECS)
def test_every_gallery_spec_converts_completely(name):
    count, bad = survey(documents(name))
    assert count > 100
    assert not bad, "\n".join(f"{tex[:120]!r}: {p}" for tex, p in list(bad.items())[:10])


def spellings() -> list[str]:
    """Names spelt with every command a spec's LaTeX spelling may use (io/spec/spelling.py)."""
    out = []
    for command in sorted(LATEX_COMMANDS):
        forms = [rf"\{command}{{x}}_{{1}}", rf"\{command}{{ab}}^{{(2)}}", rf"y_{{\{command}{{k}}}}"]
        if latex_problem(forms[0]) is not None:  # a symbol, not a command taking an argument
            forms = [rf"\{command}_{{1}}", rf"x^{{\{command}}}", rf"\{command}^{{[2]}}_{{t}}"]
        assert all(latex_problem(f) is None for f in forms), forms
        out += forms
    return out


def test_every_latex_spelling_a_spec_may_use_converts_completely():
    bad = {tex: p for tex in spellings() for display in (False, True) if (p := problems(tex, display))}
    assert len(spellings()) > 200 and not bad, bad


#: Beyond the gallery: every activation (the registry's LaTeX: \operatorname{GELU_{erf}}, ReLU's
#: indicator \mathbb{1}), every loss, every notation with every kind of bias.
def _registry_networks() -> dict[str, dict]:
    out = {f"act-{a}": dict(sizes=[2, 2, 1], activation=[a, "sigmoid"], loss="bce")
           for a in ops.ACTIVATIONS if a not in ("softmax", "linear")}
    for loss, output in (("mse", "identity"), ("sse", "tanh"), ("half_sse", "sigmoid"),
                         ("cross_entropy", "softmax")):
        out[f"loss-{loss}"] = dict(sizes=[2, 2, 2], activation=["relu", output], loss=loss)
    for notation in NOTATIONS:
        for bias in (False, True, "threshold", "shared"):
            out[f"{notation}-{bias}"] = dict(sizes=[2, 2, 1], bias=bias, notation=notation)
    return out


REGISTRY_NETWORKS = _registry_networks()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REGISTRY_NETWORKS))
def test_every_activation_loss_and_notation_converts_completely(name):
    net = sb.mlp(**REGISTRY_NETWORKS[name])
    d = sb.derive(net)
    values = {s.name: 0.1 * (k % 7 + 1) for k, s in enumerate(net.leaves)}
    for k, target in enumerate(net.targets):  # a one-hot target suits every loss
        values[target.name] = float(k == 0)
    example = worked_example(d, values)
    docs = [build_document(d, example, language="ko"), build_document(d, None, matrix=True)]
    count, bad = survey(docs)
    assert count > 100
    assert not bad, "\n".join(f"{tex[:120]!r}: {p}" for tex, p in list(bad.items())[:10])
