"""The MathML as Chromium draws it (MathML Core): every formula has a box, and an equation's
relations and right-hand sides line up as TeX's aligned sets them."""

from __future__ import annotations

import pytest
from browser import console_errors
from test_mathml_survey import documents, equations, steps_of

from symbackprop.printing.mathml import equation_mathml, tex_to_mathml

#: Per table, where each cell's content starts or ends (a cell's own box lines up whatever its
#: content does): the relations' and right-hand sides' left edges, which must line up down their
#: columns (a continued line's begins with its indent), and the gaps either side of the first
#: relation, in ems, which TeX makes a thick space (5/18 em).
ALIGNMENT = """() => Array.from(document.querySelectorAll('mtable.eq')).map(t => {
  const rows = Array.from(t.children).map(r => Array.from(r.children));
  const box = (c, k) => c.children[k < 0 ? c.childElementCount - 1 : k].getBoundingClientRect();
  const em = parseFloat(getComputedStyle(t).fontSize);
  const [lhs, rel, rhs] = rows[0];
  return {
    rel: rows.filter(r => r[1].childElementCount).map(r => box(r[1], 0).left),
    rhs: rows.map(r => box(r[2], 0).left),
    before: (box(rel, 0).left - box(lhs, -1).right) / em,
    after: (box(rhs, 0).left - box(rel, -1).right) / em,
    first: rhs.firstElementChild.outerHTML.slice(0, 80),
  };
})"""


def page() -> str:
    parts = []
    for name, matrix in (("seed000.toml", None), ("seed004.toml", None), ("model-conv1d.toml", None)):
        for doc in documents(name, ("en",), (True,), (matrix,)):
            for eq in equations(doc):
                parts.append(f'<div class="equation">{equation_mathml(eq.lhs, steps_of(eq))}</div>')
    parts.append("<p>Inline: " + tex_to_mathml(r"\delta_v = \sum_c \delta_c \, \frac{\partial c}{\partial v}")
                 + " and " + tex_to_mathml(r"\mathbb{1}\left[z > 0\right] \odot W^{\top}") + ".</p>")
    html = "\n".join(parts).replace("<mtable ", '<mtable class="eq" ')
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>MathML</title>'
            "<style>.equation{overflow-x:auto}</style></head><body>" + html + "</body></html>")


@pytest.mark.slow
def test_chromium_draws_every_formula_with_its_relations_aligned(tmp_path, chromium):
    # The session's one browser (conftest's `chromium`): a second sync Playwright in the same
    # worker refuses to start while the first one's event loop runs.
    html = tmp_path / "mathml.html"
    html.write_text(page(), encoding="utf-8")
    with chromium.open(html) as view:
        errors = console_errors(view)
        boxes = view.page.evaluate("() => Array.from(document.querySelectorAll('math'))"
                                   ".map(m => { const r = m.getBoundingClientRect(); "
                                   "return [r.width, r.height]; })")
        tables = view.page.evaluate(ALIGNMENT)
        view.screenshot("mathml-alignment")
    assert not errors
    assert len(boxes) > 100 and all(w > 0 and h > 0 for w, h in boxes)
    assert len(tables) > 100
    for t in tables:
        for column in ("rel", "rhs"):
            assert max(t[column]) - min(t[column]) < 0.5, t
        assert 0.2 < t["before"] < 0.35 and 0.2 < t["after"] < 0.35, str(t)
