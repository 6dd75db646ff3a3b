"""The ``symbackprop`` command.

Subcommands: ``notes``, ``grad``, ``check``, ``example``, ``lint``, ``grade``, ``exercises`` and
``demo`` (what each does is in :mod:`symbackprop.cli.commands` and :mod:`symbackprop.cli.teaching`).
Output goes to stdout or, with ``-o``, to a file that is written completely or not at all. Exit
codes: 0 success, 1 a check failed, 2 bad input (one line on stderr, no traceback).

>>> main(["grad", "--help"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

import jinja2
import numpy as np

from .. import __version__
from ..check.verify import VerificationError
from ..core.errors import UnavailableError
from ..core.graph import GraphError
from ..core.languages import check_language
from ..io.spec import SpecError
from ..output.render import RenderError
from ..teaching.grade import ClaimsError
from .commands import cmd_check, cmd_demo, cmd_example, cmd_grad, cmd_notes, demo_files
from .common import (
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_OK,
    UserError,
    refuse_overwriting_inputs,
    refuse_untypesettable_title,
)
from .teaching import cmd_exercises, cmd_grade, cmd_lint, exercises_files, exercises_rounding_help


def _positive(text: str) -> float:
    """An argparse type: a finite number above zero (a step, a tolerance, a learning rate)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def _integer(least: int, most: int):
    """An argparse type: an integer from ``least`` to ``most``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not least <= value <= most:
            raise argparse.ArgumentTypeError(f"expected an integer from {least} to {most}, "
                                             f"got {text!r}")
        return value
    return parse


def _language(text: str) -> str:
    """An argparse type: a language that ships (an empty one is refused, never read as en)."""
    try:
        return check_language(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _nonempty(text: str) -> str:
    """An argparse type: any text but an empty one, which would silently mean "not given"."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a value, got an empty one")
    return text


#: The most exercises one sheet holds (each is a full worked example).
MAX_EXERCISES = 100


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line like every other error (a bare ``symbackprop``
    still shows the usage, which is what it asks for)."""

    def error(self, message: str):
        if self.prog == "symbackprop" and message.endswith("required: COMMAND"):
            super().error(message)
        command = self.prog.removeprefix("symbackprop").strip()
        where = f"{command}: " if command else ""
        print(f"symbackprop: error: {where}{_one_line(message)}", file=sys.stderr)
        raise SystemExit(EXIT_INPUT)


# -- argument parsing -------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="symbackprop",
        description="Derive the equations of backpropagation symbolically, checked, as LaTeX.",
    )
    p.add_argument("--version", action="version", version=f"symbackprop {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp, output_help="write to FILE instead of stdout"):
        sp.add_argument("spec", metavar="SPEC", help="a TOML spec file (see docs/spec-format.md)")
        sp.add_argument("-o", "--output", metavar="FILE", help=output_help)
        sp.add_argument("--notation", choices=["sequential", "layered", "indexed", "matrix"],
                        help="spell the network in another notation")

    def numbers(sp, rounding_help="round only for display, or every intermediate by hand "
                "(default: the spec's, else display)"):
        sp.add_argument("--digits", type=_integer(0, 15),
                        help="decimals shown (default: the spec's, else 3)")
        sp.add_argument("--learning-rate", type=_positive, help="η (default: the spec's, else 0.1)")
        sp.add_argument("--rounding", choices=["display", "by_hand"], help=rounding_help)

    def student(sp):
        sp.add_argument("--student", metavar="ID", type=_nonempty,
                        help="judge against this student's quiz variant (see exercises --roster)")
        sp.add_argument("--seed", type=int, default=0, help="the quiz's --seed (default 0)")
        sp.add_argument("--nice", action="store_true", help="the quiz was made with --nice")

    n = sub.add_parser("notes", help="lecture notes: article, slides, Markdown or a fragment")
    common(n, "write to FILE instead of stdout (with --pdf: the PDF)")
    numbers(n)
    kind = n.add_mutually_exclusive_group()
    kind.add_argument("--slides", action="store_true", help="a beamer deck, a step per slide")
    kind.add_argument("--markdown", action="store_true", help="Markdown with $$ math")
    kind.add_argument("--fragment", action="store_true", help="align blocks to paste")
    n.add_argument("--html", action="store_true",
                   help="one self-contained HTML page (MathML, the drawing as SVG); with "
                   "--slides an HTML deck")
    n.add_argument("--pdf", action="store_true", help="compile to PDF (needs latexmk/pdflatex)")
    n.add_argument("--templates", metavar="DIR", help="a folder of templates overriding ours")
    n.add_argument("--title", help="the document's title (default: the spec's)")
    n.add_argument("--lang", type=_language,
                   help="the document's language: en (default) or ko")
    n.add_argument("--only", type=_nonempty, help="parameters whose whole chain is written out, e.g. w5,w1")
    n.add_argument("--full", action="store_true", help="write out every parameter's chain")
    n.add_argument("--no-example", action="store_true", help="leave out the worked example")
    n.add_argument("--no-appendix", action="store_true", help="leave out the appendix")
    n.add_argument("--contrast", action="store_true",
                   help="add the expanded derivative of one weight (without backpropagation)")
    n.add_argument("--matrix", action=argparse.BooleanOptionalAction, default=None,
                   help="add the matrix form (default: only in the matrix notation)")
    n.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    n.set_defaults(func=cmd_notes)

    g = sub.add_parser("grad", help="symbolic gradients as text or LaTeX")
    common(g)
    g.add_argument("--param", metavar="NAME", help="only this parameter")
    g.add_argument("--form", choices=["expanded", "intermediate", "delta"], default="intermediate",
                   help="in leaves, in node symbols (default) or with δ symbols")
    g.add_argument("--latex", action="store_true", help="print LaTeX")
    g.add_argument("--matrix", action="store_true",
                   help="the matrix form (seed 004): one equation per layer, any width")
    g.add_argument("--code", action="store_true",
                   help="a standalone module of the loss and its gradients (batched numpy for a "
                        "[network]); it imports only numpy, or torch / jax with --target")
    g.add_argument("--target", choices=["numpy", "torch", "jax"], default="numpy",
                   help="--code for torch (an autograd.Function) or jax (a custom_vjp function)")
    g.set_defaults(func=cmd_grad)

    c = sub.add_parser("check", help="compare every gradient with finite differences")
    common(c)
    c.add_argument("--eps", type=_positive, default=1e-6, help="relative step (default 1e-6)")
    c.add_argument("--rtol", type=_positive, default=1e-6, help="relative tolerance (default 1e-6)")
    c.set_defaults(func=cmd_check)

    e = sub.add_parser("example", help="the worked example with numbers")
    common(e)
    numbers(e)
    fmt = e.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true", help="as LaTeX align blocks")
    fmt.add_argument("--markdown", action="store_true", help="as Markdown")
    e.set_defaults(func=cmd_example)

    gr = sub.add_parser("grade", help="check a hand calculation's numbers, line by line")
    common(gr)
    gr.add_argument("claims", metavar="CLAIMS",
                    help="a TOML file with a [claims] table, e.g. z1 = 0.47, \"dL/dw5\" = -0.01")
    gr.add_argument("--learning-rate", type=_positive,
                    help="η for claimed updates (default: the spec's)")
    gr.add_argument("--lang", dest="language", type=_language, default="en",
                    help="the report's language (default en)")
    gr.add_argument("--rounding", choices=["display", "by_hand"],
                    help="by_hand: a number that rounds every intermediate, as the exercise "
                    "sets' rule says, is right too (default: with --student, the quiz's: the "
                    "spec's, else by_hand; without, display)")
    student(gr)
    gr.set_defaults(func=cmd_grade)

    li = sub.add_parser("lint", help="check the equations of a LaTeX derivation, line by line")
    li.add_argument("tex", metavar="NOTES.tex", help="the LaTeX file to check")
    li.add_argument("--spec", required=True, metavar="SPEC",
                    help="the network's TOML spec, with its values (and [lint.symbols])")
    li.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    li.add_argument("--notation", choices=["sequential", "layered", "indexed", "matrix"],
                    help="read the notes in another notation")
    li.add_argument("--learning-rate", type=_positive, help="η (default: the spec's, else 0.1)")
    li.add_argument("--lang", dest="language", type=_language, default="en",
                    help="the report's language (default en)")
    student(li)
    li.set_defaults(func=cmd_lint)

    ex = sub.add_parser("exercises", help="a problem sheet and its answer key, with random values")
    common(ex, "folder for exercises.tex and answers.tex (default: exercises)")
    numbers(ex, exercises_rounding_help())
    ex.add_argument("--count", type=_integer(1, MAX_EXERCISES), default=4,
                    help=f"how many exercises (default 4, at most {MAX_EXERCISES})")
    ex.add_argument("--seed", type=int, default=0, help="random seed: the same seed, the same sheets")
    ex.add_argument("--pdf", action="store_true", help="also compile both to PDF")
    ex.add_argument("--templates", metavar="DIR", help="a folder of templates overriding ours")
    ex.add_argument("--title", help="the sheets' title")
    ex.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    ex.add_argument("--roster", metavar="CSV",
                    help="one variant per student (a CSV with an id column), reproducible from "
                    "the id and --seed; writes quiz-key.tex too")
    ex.add_argument("--nice", action="store_true",
                    help="tidy values: one or two decimals, no saturated σ")
    ex.add_argument("--format", choices=["latex", "moodle"], default="latex",
                    help="moodle: also quiz.xml for Moodle's question import (default latex)")
    ex.add_argument("--lang", dest="language", type=_language,
                    help="the sheets' and the quiz's language (default: the spec's, else en)")
    ex.set_defaults(func=cmd_exercises, output="exercises", output_files=exercises_files)

    dm = sub.add_parser("demo", help="write seed 000's notes (and PDFs where TeX is present)")
    dm.add_argument("-o", "--output", metavar="DIR", default="symbackprop-demo",
                    help="folder to write into (default: symbackprop-demo)")
    dm.add_argument("--no-pdf", action="store_true", help="write the LaTeX only")
    dm.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    dm.set_defaults(func=cmd_demo, output_files=demo_files)
    return p


def _one_line(err: BaseException, limit: int = 500) -> str:
    """An error as one printable line: it may quote a user's text (a name with a newline, a NUL,
    a terminal escape), which must neither break the line nor reach the terminal raw."""
    text = str(err) or type(err).__name__
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _template_error_place(err: BaseException) -> str | None:
    """"FILE, line N" of a jinja2 error in a template (a user's --templates folder may have a
    typo), or None if ``err`` is not a template's error."""
    if not isinstance(err, jinja2.TemplateError):
        return None
    if isinstance(err, jinja2.TemplateSyntaxError) and err.lineno:
        return f"{err.filename or err.name}, line {err.lineno}"
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.endswith(".j2")]
    return f"{frames[-1].filename}, line {frames[-1].lineno}" if frames else "?"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        refuse_overwriting_inputs(args)
        refuse_untypesettable_title(args)
        with np.errstate(all="ignore"):  # a nan is reported in words, never as a warning
            return args.func(args)
    except VerificationError as err:
        print(f"symbackprop: a derived equation failed its check: {_one_line(err)}",
              file=sys.stderr)
        return EXIT_FAILED
    except RenderError as err:
        print(f"symbackprop: {_one_line(err)}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (| head); nothing more to say, and nothing to complain about.
        sys.stderr.close()
        return EXIT_OK
    except (UserError, GraphError, ClaimsError, SpecError, ValueError, OSError,
            UnavailableError) as err:
        print(f"symbackprop: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("symbackprop: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        where = _template_error_place(err)
        if where is None:
            raise
        print(f"symbackprop: error: template {where}: {_one_line(err)}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
