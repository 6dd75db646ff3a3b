"""Every document kind, compiled in English and Korean, read back as a reader would.

Each PDF is compiled once (cached per test worker) and then checked: TeX's log has no
Overfull \\vbox and no Overfull \\hbox over 5 pt; no two words on a page overlap (figure labels);
no ASCII notation (``^(``, ``^[``, ``_ij^``) or raw LaTeX leaks into the text; and a Korean
document says nothing in English beyond the names the user gave it. Every gallery spec, the
MLPs' and the models', in every kind and both languages; seed 000 and a 3-4-2 tanh/softmax net
with threshold biases run by default, the rest of the gallery is ``slow`` (CI runs it). A
deck's frames are also counted from the PDF: at most 20, overlays of one frame counted once.
"""

from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path

import pdfcheck
import pytest
from networks import net342
from texutil import REPO, TEX_MISSING

import symbackprop as sb
from symbackprop.cli import main as cli
from symbackprop.core.languages import LANGUAGES
from symbackprop.io.spec import load_spec
from symbackprop.output.render import compile_pdf, have_tex
from symbackprop.teaching.exercises import exercise_sheets

pytestmark = pytest.mark.skipif(not have_tex(), reason=TEX_MISSING)

MODELS = ["model-rnn", "model-rnn-softmax", "model-conv1d", "model-conv1d-channels",
          "model-conv2d", "model-attention", "model-blocks", "model-batchnorm"]
GALLERY = ["seed000", "seed001", "seed002", "seed003", "seed004", *MODELS]
KINDS = ["article", "slides", "fragment", "exercises", "answers"]
#: The documents make test compiles (both languages); make test-slow compiles the rest.
FAST = {("seed000", "article"), ("net342", "slides")}
WORK = Path(tempfile.mkdtemp(prefix="symbackprop-pdf-"))
GALLERY_DIR = REPO / "docs" / "examples"


def _gelu_silu() -> tuple[sb.Graph, dict, str]:
    """The registry's newest activations, GELU and SiLU, in one net (sigmoid output, bce)."""
    net = sb.mlp([2, 2, 2, 1], ["gelu", "silu", "sigmoid"], "bce", bias=True, notation="layered")
    values = {p.name: round(0.15 * ((k % 7) - 3), 2) for k, p in enumerate(net.parameters)}
    values.update({"x_1^(0)": 0.8, "x_2^(0)": -0.4, "y": 1.0})
    return net, values, "GELU and SiLU"


def _case(name: str) -> tuple[sb.Graph, dict, str]:
    if name == "net342":
        return net342()
    if name == "gelu_silu":
        return _gelu_silu()
    spec = load_spec(REPO / "docs" / "examples" / f"{name}.toml")
    return spec.graph, spec.values, spec.title


_WRAPPER = (r"\documentclass[11pt]{article}" "\n" r"\usepackage[T1]{fontenc}" "\n"
            r"\usepackage[utf8]{inputenc}" "\n" r"\usepackage{lmodern}" "\n" "{korean}"
            r"\usepackage[margin=2.2cm]{geometry}" "\n" r"\usepackage{amsmath}" "\n"
            r"\allowdisplaybreaks" "\n" r"\begin{document}" "\n{body}\n" r"\end{document}" "\n")


def _source(name: str, kind: str, language: str) -> tuple[str, str]:
    graph, values, title = _case(name)
    d = sb.derive(graph)
    example = sb.worked_example(d, values, learning_rate=0.1) if values else None
    if kind in ("exercises", "answers"):
        sheet, key = exercise_sheets(graph, 1, seed=3, language=language)
        return (sheet if kind == "exercises" else key), title
    tex = sb.render(example or d, "fragment" if kind == "fragment" else kind, title=title,
                    language=language)
    if kind == "fragment":
        korean = "\\usepackage{kotex}\n" if language == "ko" else ""
        tex = _WRAPPER.replace("{korean}", korean).replace("{body}", tex)
    return tex, title


@functools.cache
def compiled(name: str, kind: str, language: str) -> tuple[Path, str, str]:
    """(pdf, log text, the user's title) of one document, compiled once per worker."""
    tex, title = _source(name, kind, language)
    pdf = WORK / f"{name}-{kind}-{language}.pdf"
    log = pdf.with_suffix(".log")
    compile_pdf(tex, pdf, language=language, log=log)
    return pdf, log.read_text(errors="replace"), title


def _cases():
    for name in [*GALLERY, "net342", "gelu_silu"]:
        # GELU and SiLU: their notes (the registry's newest activations in a document)
        kinds = ["article"] if name == "gelu_silu" else KINDS
        for kind in kinds:
            for language in LANGUAGES:
                marks = [] if (name, kind) in FAST else [pytest.mark.slow]
                yield pytest.param(name, kind, language, marks=marks,
                                   id=f"{name}-{kind}-{language}")


@pytest.mark.parametrize("name, kind, language", list(_cases()))
def test_document_reads_cleanly(name, kind, language):
    pdf, log, title = compiled(name, kind, language)
    assert pdfcheck.overfull(log) == []
    hits = pdfcheck.collisions(pdf)
    assert hits == [], [(a.text, b.text, a.page) for a, b in hits[:5]]
    said = pdfcheck.text(pdf)
    for ascii_math in ("^(", "^[", "_ij^", "\\frac", "_{"):
        assert ascii_math not in said, ascii_math
    if language == "ko":
        # The title and the graph's own names are the user's; every other word is ours.
        runs = pdfcheck.english_runs(said, ignore=title)
        assert runs == [], runs[:5]
        if kind != "fragment":  # a fragment is equations only
            assert re.search("[가-힣]", said)
        # LaTeX's own words are ours too: the abstract's heading is the catalog's, not \abstractname.
        assert "Abstract" not in said


def test_collision_check_sees_labels_printed_over_each_other(tmp_path):
    from texutil import compile_snippet

    pdf = compile_snippet(r"\begin{tikzpicture}\node at (0,0) {weight}; "
                          r"\node at (0.05,0.02) {weigh};\end{tikzpicture}", tmp_path / "x.pdf",
                          preamble=r"\usepackage{tikz}")
    assert pdfcheck.collisions(pdf)


def test_frames_counts_a_frame_with_overlays_once(tmp_path):
    tex = (r"\documentclass{beamer}\begin{document}\begin{frame}a\end{frame}"
           r"\begin{frame}\only<1>{b}\only<2>{c}\only<3>{d}\end{frame}\end{document}")
    pdf = compile_pdf(tex, tmp_path / "d.pdf")
    assert pdfcheck.frames(pdf) == 2


def test_overfull_reads_the_log():
    log = ("Overfull \\hbox (3.1pt too wide) in paragraph\n"
           "Overfull \\hbox (12.5pt too wide) in paragraph\nOverfull \\vbox (1.0pt too high)\n")
    assert len(pdfcheck.overfull(log)) == 2


def test_english_runs_finds_untranslated_prose():
    assert pdfcheck.english_runs("역전파 the error signal 값") == ["the error signal"]
    assert pdfcheck.english_runs("입력: x1, y 값") == []


def test_english_runs_knows_the_users_title_where_the_page_broke_it():
    title = "Goodfellow's RNN: softmax and cross-entropy at every step"
    page = "답안 Goodfellow's RNN: softmax and cross-\n    entropy at every\nstep 값"
    assert pdfcheck.english_runs(page, ignore=title) == []
    assert pdfcheck.english_runs(page) != []


def test_a_korean_title_compiles_in_a_korean_document_and_is_refused_in_an_english_one(tmp_path):
    spec = (GALLERY_DIR / "seed000.toml").read_text(encoding="utf-8")
    korean = tmp_path / "ko.toml"
    korean.write_text('title = "역전파 예제"\nlanguage = "ko"\n' + _without_title(spec), "utf-8")
    english = tmp_path / "en.toml"
    english.write_text('title = "역전파 예제"\n' + _without_title(spec), "utf-8")
    assert cli(["notes", str(korean), "--pdf", "-o", str(tmp_path / "ko.pdf"), "-q"]) == 0
    said = pdfcheck.text(tmp_path / "ko.pdf")
    assert "역전파 예제" in said and "요약" in said
    assert cli(["notes", str(english), "--pdf", "-o", str(tmp_path / "en.pdf"), "-q"]) == 2
    assert not (tmp_path / "en.pdf").exists()


def _without_title(spec: str) -> str:
    return "\n".join(line for line in spec.splitlines()
                     if not line.startswith(("title", "language", "author")))


@pytest.mark.slow
def test_notes_of_a_20_20_20_1_net_with_every_chain_compile(tmp_path):
    # Issue 15: one align* of 9,700 rows exceeded TeX's capacity. Every gradient of layer 2
    # (400 weights, 1,200 rows) now gets its own align; the PDF compiles.
    tex = sb.render(sb.derive(sb.mlp([20, 20, 20, 1])), "article", full=True, appendix=False)
    assert max(body.count("\\\\") for body in re.findall(
        r"\\begin\{align\*\}(.*?)\\end\{align\*\}", tex, flags=re.S)) < 210
    pdf = tmp_path / "n20.pdf"
    compile_pdf(tex, pdf, language="en", log=tmp_path / "n20.log")
    assert pdf.stat().st_size > 0
    assert "TeX capacity exceeded" not in (tmp_path / "n20.log").read_text(errors="replace")


def _decks():
    for name in [*GALLERY, "net342"]:
        for language in LANGUAGES:
            marks = [] if (name, "slides") in FAST else [pytest.mark.slow]
            yield pytest.param(name, language, marks=marks, id=f"{name}-{language}")


@pytest.mark.parametrize("name, language", list(_decks()))
def test_a_gallery_deck_has_at_most_20_frames_in_its_pdf(name, language):
    pdf, _, _ = compiled(name, "slides", language)
    assert pdfcheck.frames(pdf) <= 20
