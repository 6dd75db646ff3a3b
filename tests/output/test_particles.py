"""Korean particles: 이라고/라고, 은/는, 이/가, 을/를, 과/와, (으)로 chosen by how the word before
them is read aloud, after Korean words, numbers and math alike.

The readings are a Korean lecturer's: h_1 "에이치 일" ends in ㄹ, 0.703 "영 점 칠영삼" in ㅁ,
y_2 "와이 이" in a vowel, x^2 "엑스 제곱" in ㅂ, ŷ "와이 햇" in ㅅ, 10 "십" in ㅂ. The gallery
scan reads every particle that follows math or a number in the rendered Korean notes of every
gallery spec, so a particle written into the catalog by hand after a placeholder is caught too.
"""

from __future__ import annotations

import re

import pytest
from texutil import REPO

import symbackprop as sb
from symbackprop.io.spec import load_spec
from symbackprop.output.environment import template_environment
from symbackprop.output.i18n import PARTICLES, attach_particles, final_sound

GALLERY = sorted(p.stem for p in (REPO / "docs" / "examples").glob("*.toml")
                 if p.stem.startswith(("seed", "model-")) and not p.stem.endswith("claims"))
#: run by default (a sigmoid net, the softmax classifier, an RNN); the rest are ``slow``
FAST = {"seed000", "seed004", "model-rnn"}

#: particle -> whether it is the form taken after a final consonant (None: either, as 로 after ㄹ)
_AFTER_CONSONANT = {"을": True, "를": False, "이": True, "가": False, "은": True, "는": False,
                    "과": True, "와": False, "으로": True, "이라고": True, "라고": False}
# a particle right after inline math or a number, ending where the word ends (이고, 인, 이다 are
# the copula, which takes no second form in writing)
_AFTER_MATH = re.compile(r"(\$[^$]+\$|(?<![\w.])\d+(?:\.\d+)?)"
                         r"(이라고|라고|으로|로|을|를|이|가|은|는|과|와)(?=[\s.,:;)]|$)")


@pytest.mark.parametrize(("said", "sound"), [
    ("$h_{1}$", "l"),                         # 에이치 일
    ("$0.703$", "c"),                         # 영 점 칠영삼
    ("$y_{2}$", "v"),                         # 와이 이
    ("$x^{2}$", "c"),                         # 엑스 제곱
    (r"$\hat{y}$", "c"),                      # 와이 햇
    (r"$\hat{y}_{2}$", "v"),                  # 와이 햇 이
    ("$10$", "c"), ("$100$", "c"), ("$12$", "v"), ("$20000$", "c"),  # 십, 백, 십이, 이만
    (r"$\delta_{z_1}$", "l"),                 # 델타 제트 일
    (r"$W^{[2]}$", "v"),                      # 더블유 이
    ("$e^{-x}$", "c"), (r"$W^{\top}$", "v"),  # 이의 마이너스 엑스 승, 더블유 티
    (r"$\odot$", "c"),                      # 아다마르 곱
    (r"$\frac{\partial L}{\partial w}$", "v"),  # 파셜 엘 파셜 더블유: read in its own order
    (r"$\frac{1}{2}$", "l"),                  # 이분의 일
    (r"$\sigma(z)$", "v"),                    # 시그마 제트
    (r"$\eta = 0.1$", "l"),                   # 에타 이퀄 영 점 일
    ("$m$", "c"), ("$n$", "c"), ("$l$", "l"), ("$x$", "v"),  # 엠, 엔, 엘, 엑스
    ("신경망", "c"), ("오차", "v"), ("수열", "l"), ("입력 2개", "v"),
    ("ReLU", "v"), ("RNN", "c"), ("symbackprop", "c"),
    # math typed as text, as a grade report quotes a student's line
    ("h_1", "l"), ("0.703", "c"), ("w5′", "v"), ("(y − ŷ)²", "c"), ("dL/dw5", "v"),
])
def test_final_sound_reads_math_and_words_as_a_korean_lecturer_does(said, sound):
    assert final_sound(said) == sound


@pytest.mark.parametrize(("written", "attached"), [
    ("$h_{1}$(이)라고", "$h_{1}$이라고"),
    ("$0.703$(이)라고", "$0.703$이라고"),
    ("$y_{2}$(이)라고", "$y_{2}$라고"),
    ("$x$을(를) $m$(으)로 나눈다", "$x$를 $m$으로 나눈다"),
    ("$l$(으)로, 입력 1개(으)로, 신경망(으)로", "$l$로, 입력 1개로, 신경망으로"),
    ("$a$과(와) $b$은(는) $z$이(가)", "$a$와 $b$는 $z$가"),
    (r"$\hat{y}$이(가)", r"$\hat{y}$이"),
    ("…을(를)", "…을(를)"),  # no word to read: the dictionary form stays, correct Korean too
])
def test_attach_particles_picks_each_form_by_the_word_before_it(written, attached):
    assert attach_particles(written) == attached


def test_templates_attach_the_particles_of_a_translated_message():
    env = template_environment("ko")
    said = env.from_string("{{ _('says %(text)s', text=t) }}")
    assert said.render(t="0.703") == "0.703이라고 씀"
    assert said.render(t="0.5") == "0.5라고 씀"
    assert said.render(t="h_1") == "h_1이라고 씀"


def _korean_notes(name: str) -> str:
    spec = load_spec(REPO / "docs" / "examples" / f"{name}.toml")
    d = sb.derive(spec.graph)
    example = sb.worked_example(d, spec.values, learning_rate=0.1) if spec.values else None
    return sb.render(example or d, "markdown", title=spec.title, language="ko")


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[] if n in FAST else [pytest.mark.slow]) for n in GALLERY])
def test_korean_notes_of_every_gallery_spec_agree_with_their_particles(name):
    text = _korean_notes(name)
    assert not [k for k in PARTICLES if k in text], "a particle was left in its dictionary form"
    wrong = []
    for found in _AFTER_MATH.finditer(text):
        word, particle = found.groups()
        sound = final_sound(word)
        if particle == "로":
            right = sound in ("v", "l")
        else:
            right = sound is not None and _AFTER_CONSONANT[particle] == (sound != "v")
        if not right:
            wrong.append(text[max(0, found.start() - 20):found.end() + 10])
    assert not wrong, wrong


def test_the_scan_covers_the_gallery_seeds_and_models():
    assert {n[:4] for n in GALLERY} == {"seed", "mode"} and len(GALLERY) >= 13
