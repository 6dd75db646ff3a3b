"""The catalogs: every language loads, Korean translates every sentence of the templates, and
the compiled .mo files say what the .po files say."""

from __future__ import annotations

import gettext
import subprocess
import sys

import pytest
from texutil import REPO

import symbackprop as sb
from symbackprop.core.languages import LANGUAGES
from symbackprop.output.i18n import locale_dir, translations
from symbackprop.output.render import paragraph_text, section_title


def test_languages_ship_with_catalogs():
    assert LANGUAGES[0] == "en" and "ko" in LANGUAGES
    for language in LANGUAGES:
        assert isinstance(translations(language), gettext.NullTranslations)


def test_unknown_language_is_one_clear_line():
    with pytest.raises(ValueError, match=r"^unknown language 'xx'; expected one of: en, ko$"):
        translations("xx")
    with pytest.raises(ValueError, match="unknown language"):
        sb.render(sb.mlp([1, 1]), language="xx")


def _po(language: str) -> dict:
    babel = pytest.importorskip("babel.messages.pofile")
    path = locale_dir() / language / "LC_MESSAGES" / "symbackprop.po"
    with path.open("rb") as f:
        return {m.id: m.string for m in babel.read_po(f) if m.id}


def test_korean_translates_every_template_sentence():
    missing = [k for k, v in _po("ko").items()
               if not v or (isinstance(v, tuple) and not all(v))]
    assert missing == []


def test_catalog_holds_every_sentence_of_the_templates(tmp_path):
    """The .pot is current: extracting again from the templates gives the same messages."""
    pytest.importorskip("babel")
    out = tmp_path / "fresh.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F",
                    "babel.cfg", "--no-location", "--sort-output", "--omit-header",
                    "--project=symbackprop", "-o", str(out), "."], cwd=REPO, check=True)
    from babel.messages.pofile import read_po

    def ids(path):
        with open(path, "rb") as f:
            return {m.id for m in read_po(f) if m.id}

    assert ids(out) == ids(locale_dir() / "symbackprop.pot")
    assert ids(out) == set(_po("ko"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalog_matches_its_po(language):
    """The committed .mo says what the .po says (recompile with pybabel compile if not)."""
    mo = translations(language)
    for msgid, msgstr in _po(language).items():
        if isinstance(msgid, tuple):
            if all(msgstr):
                assert mo.ngettext(msgid[0], msgid[1], 1) == msgstr[0]
        elif msgstr:
            assert mo.gettext(msgid) == msgstr, msgid


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_a_document_in_korean_uses_the_seed_terms():
    d = sb.derive(sb.mlp([2, 2, 1]))
    ex = sb.worked_example(d, {"x1": 0.5, "x2": 0.1, "y": 1, **{f"w{k}": 0.1 for k in range(1, 7)}})
    doc = sb.build_document(d, ex, language="ko")
    titles = [section_title(s, "ko") for s in doc.sections]
    assert "순전파" in titles and "경사 하강법" in titles
    assert any("역전파" in t for t in titles)
    said = " ".join(paragraph_text(b, "ko") for s in doc.sections for sub in s.walk()
                    for b in sub.blocks if b.kind == "paragraph")
    assert "연쇄 법칙" in said and "학습률" in said
    md = sb.render(ex, "markdown", language="ko")
    assert "## 순전파" in md and "손실 함수" in md


def test_same_mathematics_in_both_languages():
    d = sb.derive(sb.mlp([2, 2, 1]))
    en, ko = (sb.build_document(d, language=lang) for lang in ("en", "ko"))
    assert [e.lhs for e in en.equations] == [e.lhs for e in ko.equations]
    assert [e.steps for e in en.equations] == [e.steps for e in ko.equations]


def test_spec_chooses_language_and_only(tmp_path):
    from symbackprop.io.spec import SpecError, parse_spec

    spec = parse_spec('language = "ko"\nonly = ["w5"]\n[network]\nsizes = [2, 2, 1]\n', "s.toml")
    assert spec.language == "ko" and spec.only == ["w5"]
    assert parse_spec("[network]\nsizes = [2, 2, 1]\n", "s.toml").language == "en"
    with pytest.raises(SpecError, match=r'^s.toml: language: unknown language "fr"'):
        parse_spec('language = "fr"\n[network]\nsizes = [2, 2, 1]\n', "s.toml")
    with pytest.raises(SpecError, match=r'^s.toml: only\[0\]: unknown parameter "w9"'):
        parse_spec('only = ["w9"]\n[network]\nsizes = [2, 2, 1]\n', "s.toml")


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_cli_notes_in_korean_and_only(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('title = "t"\n[network]\nsizes = [2, 3, 2]\n', encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "symbackprop", "notes", str(spec), "--lang", "ko",
                          "--only", "w1,w7"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert r"\section{순전파}" in run.stdout and r"\usepackage{kotex}" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "symbackprop", "notes", str(spec), "--lang", "xx"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown language" in bad.stderr


@pytest.mark.parametrize(("language", "expected"), [
    ("en", r"\title{An Elman RNN over 1 step: 2 inputs, 1 hidden unit and 1 output}"),
    ("ko", r"\title{1단계로 펼친 엘만 RNN: 입력 2개, 은닉 유닛 1개, 출력 1개}")])
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_a_models_default_title_is_translated_and_agrees_with_its_counts(language, expected):
    tex = sb.render(sb.derive(sb.rnn(2, 1, 1, steps=1)), kind="article", language=language)
    assert expected in tex
    conv = sb.render(sb.derive(sb.conv2d((3, 3), (2, 2))), kind="markdown", language=language)
    assert r"$3\times 3$" in conv.splitlines()[0] or r"$3\times 3$" in conv
    net = sb.network(2, [sb.dense(2, "tanh"), sb.batch_norm()], batch=2)
    words = {"en": "batch norm", "ko": "배치 정규화"}[language]
    assert f"(tanh) $\\to$ {words}}}" in sb.render(sb.derive(net), language=language)


@pytest.mark.parametrize(("language", "expected"), [
    ("en", "with 1 input channel and 2 kernels"), ("ko", "입력 채널 1개, 커널 2개")])
def test_a_convolutions_default_title_counts_its_channels(language, expected):
    conv = sb.conv1d(3, 2, in_channels=1, out_channels=2)
    assert expected in sb.render(sb.derive(conv), kind="markdown", language=language)
