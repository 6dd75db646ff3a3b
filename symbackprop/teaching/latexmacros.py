"""A lecturer's own macros: ``\\newcommand``, ``\\renewcommand``, ``\\providecommand`` and
``\\DeclareMathOperator``, read and expanded with hard limits, so that lint reads the math as
TeX would print it.

Only this small, declarative part of TeX is understood: a control word, up to nine arguments
(the first one optional when a default is given), and a body. Expansion is TeX's (the result
is read again, so a macro may use another), bounded in depth, in count and in the size it
produces: a macro that expands into itself, or doubles at every level, is refused in one line
as soon as a limit is passed, never after the fact. ``\\def``, ``\\let`` and the rest stay
refused by :func:`symbackprop.teaching.latexdocument.check_document`.

Line numbers are kept: a definition is blanked where it stands, and a use that spans lines is
replaced by its expansion on one line followed by the same number of line breaks.

>>> print(expand_macros(r"\\newcommand{\\dd}[2]{\\frac{\\partial #1}{\\partial #2}} $\\dd{L}{w_5}$").strip())
$\\frac{\\partial L}{\\partial w_5}$
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.errors import SymbackpropError

__all__ = ["Macro", "MacroError", "read_definitions", "expand", "expand_macros",
           "DEFINING", "FORBIDDEN", "MAX_MACROS", "MAX_LEVELS", "MAX_EXPANSIONS", "MAX_BODY"]

#: The commands that define a macro here; every other defining command stays refused.
DEFINING = frozenset({"newcommand", "renewcommand", "providecommand", "DeclareMathOperator"})
#: Commands that define, expand or read otherwise: a document holding one is refused as a whole
#: (check_document), and none of them can be given a meaning by a macro here.
FORBIDDEN = frozenset(
    "input include InputIfFileExists def edef gdef xdef let futurelet "
    "DeclareRobustCommand newenvironment renewenvironment "
    "catcode lccode uccode write write18 immediate openin openout read readline csname "
    "expandafter noexpand scantokens everyjob everypar endlinechar directlua luaexec "
    "ShellEscape usepackage@ makeatletter".split())
MAX_MACROS = 500  # definitions in one document
MAX_BODY = 2000  # characters of one definition's body
MAX_LEVELS = 16  # a macro used inside a macro inside …: deeper is a loop in practice
MAX_EXPANSIONS = 20_000  # uses expanded in one document
GROWTH = 4  # the expanded document may be at most this many times the original (+ 100 000)
#: Names that cannot be defined: the structure lint reads, and what TeX would act on.
_RESERVED = frozenset({"begin", "end", "left", "right", "frac", "partial", "sum", "text"})
_CONTROL_WORD = re.compile(r"\\([A-Za-z]+)")
_TOKEN = re.compile(r"\\([A-Za-z]+)|\\.", re.S)  # \\R is a line break and an R, not \R
_DEFINITION = re.compile(r"\\(newcommand|renewcommand|providecommand|DeclareMathOperator)"
                         r"(?![A-Za-z])\*?")


class MacroError(SymbackpropError, ValueError):
    """A definition cannot be read, or its expansion passes a limit (one line)."""


@dataclass(frozen=True)
class Macro:
    """One definition: ``\\name`` with ``args`` arguments (the first optional when ``default``
    is not None) and its ``body`` (``#1`` … ``#9`` stand for the arguments)."""

    name: str
    args: int
    default: str | None
    body: str
    line: int


def _line(text: str, at: int) -> int:
    return text.count("\n", 0, at) + 1


def _skip_spaces(text: str, k: int) -> int:
    while k < len(text) and text[k] in " \t\n\r":
        k += 1
    return k


def _group(text: str, k: int, where: str, limit: int) -> tuple[str, int]:
    """The text of the braced group at ``k`` (or one token), and the index after it."""
    k = _skip_spaces(text, k)
    if k >= len(text):
        raise MacroError(f"{where}: an argument is missing at the end of the text")
    if text[k] != "{":
        m = _CONTROL_WORD.match(text, k)
        end = m.end() if m else k + 2 if text[k] == "\\" else k + 1
        return text[k:end], end
    depth, start = 0, k
    while k < len(text):
        ch = text[k]
        if ch == "\\":
            k += 2
            continue
        depth += 1 if ch == "{" else -1 if ch == "}" else 0
        k += 1
        if depth == 0:
            if k - start - 2 > limit:
                raise MacroError(f"{where}: a group longer than {limit} characters")
            return text[start + 1:k - 1], k
    raise MacroError(f"{where}: a brace is not closed")


def _bracket(text: str, k: int, where: str) -> tuple[str | None, int]:
    """The text of an optional ``[…]`` at ``k`` (None when there is none)."""
    j = _skip_spaces(text, k)
    if j >= len(text) or text[j] != "[":
        return None, k
    depth = 0
    for end in range(j + 1, min(len(text), j + 1 + MAX_BODY)):
        ch = text[end]
        depth += 1 if ch == "{" else -1 if ch == "}" else 0
        if ch == "]" and depth == 0:
            return text[j + 1:end], end + 1
    raise MacroError(f"{where}: a '[' is not closed")


def read_definitions(text: str) -> tuple[str, dict[str, Macro]]:
    """The text with its definitions blanked (line breaks kept), and the macros they define.

    >>> text, macros = read_definitions("\\\\newcommand{\\\\R}{\\\\mathbb{R}}\\n$x$")
    >>> text.strip(" "), macros["R"].body, macros["R"].args
    ('\\n$x$', '\\\\mathbb{R}', 0)
    """
    macros: dict[str, Macro] = {}
    out, last = [], 0
    for m in _DEFINITION.finditer(text):
        if m.start() < last:  # inside a definition already read (its body)
            continue
        command, line = m.group(1), _line(text, m.start())
        where = f"line {line}: \\{command}"
        name_text, k = _group(text, m.end(), where, 200)
        name = _CONTROL_WORD.fullmatch(name_text.strip())
        if name is None:
            raise MacroError(f"{where}: expected a command name such as \\R, got "
                             f"{name_text.strip()[:30]!r}")
        name = name.group(1)
        where = f"line {line}: \\{command}{{\\{name}}}"
        if name in _RESERVED or name in DEFINING or name in FORBIDDEN:
            raise MacroError(f"{where}: \\{name} cannot be redefined here")
        args, default = 0, None
        if command != "DeclareMathOperator":
            count, k = _bracket(text, k, where)
            if count is not None:
                if not re.fullmatch(r"\s*[0-9]\s*", count):
                    raise MacroError(f"{where}: the number of arguments must be 0 to 9")
                args = int(count)
                default, k = _bracket(text, k, where)
                if default is not None and args == 0:
                    raise MacroError(f"{where}: a default for an argument it does not take")
        body, k = _group(text, k, where, MAX_BODY)
        if command == "DeclareMathOperator":
            body = rf"\operatorname{{{body.strip()}}}"
        _check_body(body, args, where)
        if command == "newcommand" and name in macros:
            raise MacroError(f"{where}: \\{name} is already defined on line "
                             f"{macros[name].line} (\\renewcommand redefines)")
        if not (command == "providecommand" and name in macros):
            macros[name] = Macro(name, args, default, body, line)
        if len(macros) > MAX_MACROS:
            raise MacroError(f"{where}: more than {MAX_MACROS} macros")
        out.append(text[last:m.start()])
        out.append(re.sub(r"[^\n]", " ", text[m.start():k]))
        last = k
    out.append(text[last:])
    return "".join(out), macros


def _check_body(body: str, args: int, where: str) -> None:
    for m in re.finditer(r"#(.?)", body):
        if not (m.group(1).isdigit() and 1 <= int(m.group(1)) <= args):
            raise MacroError(f"{where}: '#{m.group(1)}' in the body names no argument "
                             f"(it takes {args})")
    inner = _DEFINITION.search(body)
    if inner:
        raise MacroError(f"{where}: a definition inside a definition is not read")


class _Expander:
    def __init__(self, macros: dict[str, Macro], budget: int):
        self.macros, self.budget, self.used, self.count = macros, budget, 0, 0

    def run(self, text: str, level: int, top: bool = False) -> str:
        if "\\" not in text:  # nothing to expand (most bodies after their arguments)
            return text
        out, k = [], 0
        for m in _TOKEN.finditer(text):
            if m.start() < k or m.group(1) is None:
                continue
            macro = self.macros.get(m.group(1))
            if macro is None:
                continue
            out.append(text[k:m.start()])
            expansion, k = self.use(macro, text, m.end(), level)
            if top:  # keep the document's line breaks after a use that spans lines
                expansion = expansion.replace("\n", " ") + "\n" * text.count("\n", m.start(), k)
            out.append(expansion)
        out.append(text[k:])
        return "".join(out)

    def use(self, macro: Macro, text: str, k: int, level: int) -> tuple[str, int]:
        if level >= MAX_LEVELS:
            raise MacroError(f"{_where(macro)} expands more than {MAX_LEVELS} levels deep: it "
                             "uses itself, directly or through another macro")
        self.count += 1
        if self.count > MAX_EXPANSIONS:
            raise MacroError(f"{_where(macro)}: more than {MAX_EXPANSIONS} macro uses to expand")
        if not macro.args:
            self.used += len(macro.body)
            if self.used > self.budget:
                raise MacroError(f"{_where(macro)}: the expanded text would pass {self.budget} "
                                 "characters")
            return self.run(macro.body, level + 1), k
        values = []
        for n in range(macro.args):
            if n == 0 and macro.default is not None:
                value, k = _bracket(text, k, _where(macro))
                values.append(macro.default if value is None else value)
            else:
                value, k = _group(text, k, _where(macro), len(text))
                values.append(value)
        # The size is known before the string is built: a body that repeats a long argument
        # is refused without building it.
        size = len(_ARGUMENT.sub("", macro.body)) + sum(
            len(values[int(d) - 1]) for d in _ARGUMENT.findall(macro.body))
        self.used += size
        if self.used > self.budget:
            raise MacroError(f"{_where(macro)}: the expanded text would pass {self.budget} "
                             "characters")
        body = _ARGUMENT.sub(lambda m: values[int(m.group(1)) - 1], macro.body)
        return self.run(body, level + 1), k


def _where(macro: Macro) -> str:
    return f"\\{macro.name} (defined on line {macro.line})"


_ARGUMENT = re.compile(r"#([1-9])")


def expand(text: str, macros: dict[str, Macro], budget: int | None = None) -> str:
    """``text`` with every use of ``macros`` expanded (MacroError past a limit)."""
    if not macros:
        return text
    limit = budget if budget is not None else GROWTH * len(text) + 100_000
    return _Expander(macros, limit).run(text, 0, top=True)


def expand_macros(text: str) -> str:
    """Definitions read and blanked, every use expanded: the text as TeX would print it."""
    if not _DEFINITION.search(text):
        return text
    blanked, macros = read_definitions(text)
    return expand(blanked, macros)
