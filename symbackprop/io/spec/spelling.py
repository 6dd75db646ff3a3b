"""Safe LaTeX spellings of names: what a spec may put into a document unescaped."""

from __future__ import annotations

import re

from .errors import MAX_LATEX_CHARS, SpecError, clip, got

# -- safe LaTeX spellings -------------------------------------------------------------------------
_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu "
    "xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega "
    "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"
)
#: The backslash commands a LaTeX spelling may use; every other command is refused.
LATEX_COMMANDS = frozenset(
    _GREEK.split()
    + (
        "hat bar tilde vec dot ddot check breve acute grave widehat widetilde overline underline "
        "mathbf mathrm mathit mathsf mathtt mathcal mathbb mathfrak boldsymbol operatorname "
        "ell partial nabla prime top ast star dagger cdot circ infty"
    ).split()
)
#: The commands of LATEX_COMMANDS that take an argument (\\hat{y}); the rest are symbols.
_TAKES_ARGUMENT = frozenset(
    (
        "hat bar tilde vec dot ddot check breve acute grave widehat widetilde overline underline "
        "mathbf mathrm mathit mathsf mathtt mathcal mathbb mathfrak boldsymbol operatorname"
    ).split()
)
#: Single characters TeX takes as a whole script or argument (x_1, x^*, \\hat x).
_ONE_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789()[]+-*/,.|")
_LATEX_PLAIN = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _^{}()[],'+-*/.|"
)
_COMMAND = re.compile(r"\\([A-Za-z]+)")


def latex_problem(text: object) -> str | None:
    """What makes ``text`` unsafe as a LaTeX spelling (the reason a SpecError gives), or None.

    >>> latex_problem(r"\\hat{y}_1") is None, latex_problem("x_")
    (True, "column 2: '_' must be followed by what it puts below: a letter, a digit or a group _{…}")
    """
    if not isinstance(text, str):
        return f"expected a LaTeX spelling as a string, got {got(text)}"
    if not text.strip():
        return "the LaTeX spelling is empty"
    if len(text) > MAX_LATEX_CHARS:
        return f"the LaTeX spelling is {len(text)} characters long; the limit is {MAX_LATEX_CHARS}"
    depth, i, n = 0, 0, len(text)
    while i < n:
        c, col = text[i], i + 1
        if c == "\\":
            m = _COMMAND.match(text, i)
            if not m:
                nxt = text[i + 1 : i + 2] or "end"
                return f"column {col}: '\\' followed by {nxt!r}; only named commands are allowed"
            if m.group(1) not in LATEX_COMMANDS:
                return (
                    f"column {col}: the command \\{clip(m.group(1), 24)} is not allowed; "
                    f"allowed: Greek letters, \\hat, \\bar, \\tilde, \\mathbf, \\mathrm, …"
                )
            if m.group(1) in _TAKES_ARGUMENT:
                j = m.end()
                while j < n and text[j] == " ":
                    j += 1
                if not _an_argument(text, j):
                    return (f"column {col}: \\{m.group(1)} needs its argument, e.g. "
                            f"\\{m.group(1)}{{y}}")
            i = m.end()
            continue
        if c not in _LATEX_PLAIN:
            return f"column {col}: the character {c!r} is not allowed in a LaTeX spelling"
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return f"column {col}: '}}' closes no '{{'"
        elif c in "_^":
            # '^^' would also be TeX's hex escape (^^5c is a backslash), so it is refused; a
            # script takes one token or a group: x_\hat{y} and x^' are TeX errors.
            if i + 1 >= n or not _an_argument(text, i + 1, script=True):
                return (f"column {col}: {c!r} must be followed by what it puts {_SCRIPT[c]}: "
                        f"a letter, a digit or a group {c}{{…}}")
        i += 1
    if depth:
        return f"{depth} '{{' not closed"
    return _double_script(text)


_SCRIPT = {"_": "below", "^": "above"}


def _an_argument(text: str, j: int, script: bool = False) -> bool:
    """Whether text[j:] starts with what TeX takes as one argument: a group, one plain
    character, or a symbol command (not one that itself needs an argument)."""
    if j >= len(text):
        return False
    if text[j] == "{":
        return True
    if text[j] == "\\":
        m = _COMMAND.match(text, j)
        return bool(m) and m.group(1) not in _TAKES_ARGUMENT
    return text[j] in _ONE_TOKEN


def _double_script(text: str) -> str | None:
    """TeX stops with "Double subscript" on a_b_c (or x^2^3, x^2'): refuse it here instead."""
    words = {"_": "subscript", "^": "superscript"}
    # Per open group: the scripts the current atom has, and whether the group is a script's
    # argument (x_{…}), after which the atom goes on, or a nucleus of its own ({…}_1).
    stack: list[tuple[set[str], bool]] = [(set(), False)]
    after_script = primed = False
    i = 0
    while i < len(text):
        c = text[i]
        scripts = stack[-1][0]
        if c != "'":
            primed = primed and c == "^" and text[i - 1] == "'"
        if c in "_^":
            # x'^2 is allowed: TeX joins a superscript right after primes to them.
            if c in scripts and not (c == "^" and primed and text[i - 1] == "'"):
                return f"column {i + 1}: a second {words[c]} on one symbol"
            scripts.add(c)
            after_script = True
        elif c == "'" and not after_script:
            # x' is x^{\\prime}, and primes in a row are one superscript; x'_1' has two.
            if "^" in scripts and not (i and text[i - 1] == "'"):
                return f"column {i + 1}: a prime after a superscript"
            scripts.add("^")
            primed = True
            i += 1
            continue
        elif c == "{":
            stack.append((set(), after_script))
            after_script = False
        elif c == "}":
            _inner, was_argument = stack.pop()
            if not was_argument:
                stack[-1][0].clear()  # the group was an atom: scripts may follow it afresh
        elif after_script:
            after_script = False  # one token is the script's whole argument
            if c == "\\":
                i = _COMMAND.match(text, i).end()
                continue
        elif c != " ":
            scripts.clear()  # a new atom
            if c == "\\":
                i = _COMMAND.match(text, i).end()
                continue
        i += 1
    return None


def check_latex(text: str, *, where: str = "latex") -> str:
    """Return ``text`` if it is a safe LaTeX spelling of a name, else raise :class:`SpecError`.

    Allowed: letters, digits, spaces, ``_ ^ { } ( ) [ ] , ' + - * / . |`` (braces balanced) and
    the commands in :data:`LATEX_COMMANDS` (Greek letters, accents, font commands).

    >>> check_latex(r"\\hat{y}_{1}")
    '\\\\hat{y}_{1}'
    >>> check_latex(r"\\input{a}")
    Traceback (most recent call last):
    ...
    symbackprop.spec.SpecError: latex: column 1: the command \\input is not allowed; allowed: Greek letters, \\hat, \\bar, \\tilde, \\mathbf, \\mathrm, …
    """  # noqa: E501
    problem = latex_problem(text)
    if problem:
        raise SpecError(problem, None, where)
    return text


