"""The documents' catalogs: gettext translations of the prose the templates say.

Every sentence a document prints lives in a jinja2 template, inside ``<% trans %>`` or
``_()``; a language is a compiled catalog ``output/locales/<lang>/LC_MESSAGES/symbackprop.mo``,
shipped as a package resource. English is the templates' own text. Adding a language is adding
a catalog (docs/templates.md): nothing in the engine changes.

A Korean particle after a placeholder is written in the dictionary's form, ``%(x)s을(를)``;
every template's gettext attaches it (:func:`attach_particles`) once the words are in, choosing
the form by how the word before it is read aloud (:func:`final_sound`), math and numbers included.

>>> translations("ko").gettext("The network")
'신경망'
>>> translations("en").gettext("The network")
'The network'
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Callable
from functools import cache
from html import unescape
from pathlib import Path

import jinja2
from markupsafe import Markup

from ..core.languages import check_language

__all__ = ["DOMAIN", "translations", "locale_dir", "PARTICLES", "attach_particles", "final_sound",
           "with_particles"]

DOMAIN = "symbackprop"


def locale_dir() -> Path:
    """The folder holding ``<lang>/LC_MESSAGES/symbackprop.mo``."""
    return Path(__file__).resolve().parent / "locales"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog for ``language`` (``en``: the templates' text as written)."""
    check_language(language)
    try:
        return gettext.translation(DOMAIN, localedir=str(locale_dir()), languages=[language])
    except OSError:
        raise ValueError(f"the catalog for language {language!r} is missing from "
                         f"{locale_dir()}") from None


# -- Korean particles -------------------------------------------------------------------------
# A Korean particle has two forms chosen by how the word before it ends when read aloud: 을/를,
# 이/가, 은/는, 과/와, 으로/로 (로 after a vowel or ㄹ), 이라고/라고. A message cannot know
# what its placeholder will hold (h_1, 0.703, 입력 2개), so the catalog writes the particle in
# the dictionary's form, 을(를), and attach_particles picks the form once the words are in.

#: A particle as the catalog writes it -> (form after a consonant, form after a vowel).
PARTICLES = {"을(를)": ("을", "를"), "이(가)": ("이", "가"), "은(는)": ("은", "는"),
             "과(와)": ("과", "와"), "(으)로": ("으로", "로"), "(이)라고": ("이라고", "라고")}

_MARKER = re.compile("|".join(re.escape(k) for k in PARTICLES))

# How letters, digits and Greek are read aloud in a Korean lecture, by their last sound:
# "v" a vowel, "l" ㄹ (which takes 로, not 으로), "c" any other final consonant.
_LETTERS = dict(zip("abcdefghijklmnopqrstuvwxyz",
                    "vvvvvvvvvvvlccvvvlvvvvvvvv", strict=True))  # 엘 엠 엔 알 end in consonants
_DIGITS = dict(zip("0123456789", "clvcvvcllv", strict=True))  # 영 일 이 삼 사 오 육 칠 팔 구
# 엡실론, 엘, 무한대, 티(전치), 나블라, 파셜, 아다마르 곱; every other Greek letter ends in a vowel
_GREEK = {"epsilon": "c", "varepsilon": "c", "ell": "l", "infty": "v", "top": "v",
          "nabla": "v", "partial": "l", "odot": "c"}
_ACCENTS = {"hat": "c", "dot": "c", "ddot": "c", "bar": "v", "tilde": "v", "vec": "v",
            "check": "c"}  # 햇, 닷, 바, 틸드, 벡터, 체크(c: 첵)
_WORDS = {"relu": "v", "gelu": "v", "silu": "v", "softmax": "v", "softplus": "v", "tanh": "v",
          "erf": "v", "rnn": "c", "symbackprop": "c", "swish": "v", "log": "c", "exp": "v"}
#: math typed as text (a grade report quotes what a student wrote) -> its LaTeX
_TYPED = {"′": "'", "²": "^2", "³": "^3", "σ": r"\sigma", "δ": r"\delta", "η": r"\eta",
          "ε": r"\epsilon", "ŷ": r"\hat{y}"}
_WRAPPERS = ("mathbf", "mathrm", "mathit", "mathcal", "boldsymbol", "text", "operatorname",
             "mathsf", "left", "bigl", "bigr", "Bigl", "Bigr")
#: The LaTeX an HTML page's ``<math>`` element keeps as its text alternative.
_ALTTEXT = re.compile(r'^<math\b[^>]*\balttext="([^"]*)"')
_CLOSERS = re.compile(r"(\s+|\\[,;!:]|\\quad|\\right[.)\]|]?|\\[bB]ig+[rl]?[)\]|]?|[)\].,|]|\\\})$")


def final_sound(text: str) -> str | None:
    """How ``text`` ends when read aloud in Korean: "v" (a vowel), "l" (ㄹ), "c" (another
    consonant) or None (no idea). Math ``$…$`` is read as a lecturer reads it: h_1 "에이치 일"
    ends in ㄹ, 0.703 "영 점 칠영삼" in ㅁ, x^2 "엑스 제곱" in ㅂ, \\hat{y} "와이 햇" in ㅅ.

    >>> final_sound("$h_{1}$"), final_sound("$0.703$"), final_sound("$y_{2}$"), final_sound("신경망")
    ('l', 'c', 'v', 'c')

    MathML (the HTML pages') is read by its LaTeX, its ``alttext``:

    >>> final_sound('<math alttext="h_{1}"><msub><mi>h</mi><mn>1</mn></msub></math>')
    'l'
    """
    text = text.rstrip()
    if text.endswith("</math>"):
        alt = _ALTTEXT.search(text[text.rfind("<math"):])
        return _tex_sound(unescape(alt.group(1))) if alt else None
    if text.endswith("$") and text.count("$") >= 2:
        return _tex_sound(text[text.rstrip("$").rfind("$") + 1:].rstrip("$"))
    text = _CLOSERS.sub("", text) if text.endswith((")", "]")) else text
    if not text:
        return None
    last = text[-1]
    if "가" <= last <= "힣":
        jong = (ord(last) - ord("가")) % 28
        return "v" if jong == 0 else "l" if jong == 8 else "c"
    word = re.search(r"(?<![\\_^A-Za-z])[A-Za-z]{2,}$", text)
    if word:  # a word of prose (ReLU, symbackprop), not a run of math letters
        return _word_sound(word.group())
    plain = re.search(r"[^\s가-힣]+$", text)  # math typed as text, as a report quotes it: h_1, w5′
    if plain:
        math = plain.group()
        for typed, tex in _TYPED.items():
            math = math.replace(typed, tex)
        return _tex_sound(math)
    return None


def attach_particles(text: str) -> str:
    """Every ``을(를)``-style particle in ``text`` in the form its preceding word takes
    (unknown endings keep the dictionary form, which is correct Korean too).

    >>> attach_particles("$h_{1}$(이)라고 쓰고 $0.5$을(를) 더한 입력 2개(으)로")
    '$h_{1}$이라고 쓰고 $0.5$를 더한 입력 2개로'
    """
    out, start = [], 0
    for found in _MARKER.finditer(text):
        before = text[start:found.start()]
        out.append(before)
        sound = final_sound("".join(out))
        after_consonant, after_vowel = PARTICLES[found.group()]
        if sound is None:
            out.append(found.group())
        elif found.group() == "(으)로":
            out.append(after_vowel if sound in "vl" else after_consonant)
        else:
            out.append(after_vowel if sound == "v" else after_consonant)
        start = found.end()
    out.append(text[start:])
    return "".join(out)


def _number_sound(number: str) -> str:
    number = number.strip(".")
    if "." in number:  # the digits after the point are read one by one: 영 점 칠영삼
        return _DIGITS[number[-1]]
    n = int(number or "0")
    if n == 0 or n % 10:
        return _DIGITS[str(n % 10)]
    zeros = len(str(n)) - len(str(n).rstrip("0"))
    if zeros >= 4:  # 만, 억 end in consonants; 조 in a vowel
        return "v" if zeros // 4 >= 3 else "c"
    return "c"  # 십, 백, 천


def _word_sound(word: str) -> str:
    if word.lower() in _WORDS:
        return _WORDS[word.lower()]
    if len(word) == 1 or word.isupper():  # a symbol or an acronym: read letter by letter
        return _LETTERS[word[-1].lower()]
    if word.endswith("ng"):
        return "c"
    return {"l": "l", "m": "c", "n": "c", "k": "c", "p": "c"}.get(word[-1], "v")


def _tex_sound(tex: str) -> str | None:
    """The final sound of inline math, reading its last atom (a numerator, for 분의)."""
    tex = tex.strip()
    while True:
        stripped = _CLOSERS.sub("", tex)
        if stripped == tex:
            break
        tex = stripped
    if not tex:
        return None
    if tex.endswith(("'", r"\prime")):
        return "v"  # 프라임
    if tex.endswith("}"):
        start = _open_brace(tex)
        group, before = tex[start + 1:-1], tex[:start]
        if before.endswith("^"):
            return _power_sound(group.strip())
        if before.endswith("}") and re.search(r"\\[dt]?frac\{", before):
            numerator = before[_open_brace(before) + 1:-1]
            if re.match(r"\s*(\\partial|d\b|d\s)", numerator):
                return _tex_sound(group)  # ∂L/∂w is read in its own order: 파셜 엘 파셜 더블유
            return _tex_sound(numerator)  # b분의 a: the numerator is read last
        command = re.search(r"\\([A-Za-z]+)\s*$", before)
        if command and command.group(1) in _ACCENTS:
            return _ACCENTS[command.group(1)]
        if command and command.group(1) in ("text", "operatorname", "mathrm") and \
                re.fullmatch(r"[A-Za-z]{2,}", group.strip()):
            return _word_sound(group.strip())
        return _tex_sound(group)
    number = re.search(r"(\^?)([\d.]+)$", tex)
    if number:
        if number.group(1):
            return _power_sound(number.group(2))
        return _number_sound(number.group(2))
    command = re.search(r"\\([A-Za-z]+)$", tex)
    if command:
        name = command.group(1)
        if name in _WRAPPERS:
            return _tex_sound(tex[:command.start()])
        return _GREEK.get(name, _WORDS.get(name, "v"))
    if tex[-1].isalpha() and tex[-1].isascii():
        return _LETTERS[tex[-1].lower()]
    return None


def _power_sound(power: str) -> str | None:
    """A superscript: a layer's label is read as its index (W^{[2]}: 더블유 이), a transpose
    as 티, anything else as a power (제곱, 세제곱, 역, e^{-x}: 마이너스 엑스 승)."""
    if power.startswith(("[", "(")):
        return _tex_sound(power)
    if power in (r"\top", "T", r"\intercal"):
        return "v"
    return "c"


def _open_brace(tex: str) -> int:
    """The index of the ``{`` matching the ``}`` that ends ``tex`` (0 if none matches)."""
    depth = 0
    for k in range(len(tex) - 1, -1, -1):
        if tex[k] == "}" and (k == 0 or tex[k - 1] != "\\"):
            depth += 1
        elif tex[k] == "{" and (k == 0 or tex[k - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return k
    return 0


def with_particles(gettext_callable: Callable) -> Callable:
    """A jinja2 ``gettext``/``ngettext`` whose result has its particles attached (the message
    formatted first, so the particle sees the words that came in).

    ``env.globals["gettext"] = with_particles(env.globals["gettext"])`` is what
    output/environment.py does for every template.
    """
    @jinja2.pass_context
    def call(context, *args, **kwargs):
        said = gettext_callable(context, *args, **kwargs)
        attached = attach_particles(str(said))
        return Markup(attached) if isinstance(said, Markup) else attached

    return call
