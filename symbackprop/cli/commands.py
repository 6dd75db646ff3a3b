"""What each ``symbackprop`` subcommand does: read the spec, derive, render, write.

The command line itself (arguments, exit codes, one-line errors) is in :mod:`symbackprop.cli.main`;
each ``cmd_<name>(args)`` here takes its parsed arguments and returns an exit code.

>>> EXIT_OK, EXIT_FAILED, EXIT_INPUT
(0, 1, 2)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from ..core.errors import SymbackpropError

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2

#: Seed 000's network and numbers (x, y and the initial weights are the seed's inputs).
DEMO_VALUES = {
    "x1": 0.5, "x2": 0.3, "y": 1.0,
    "w1": 0.7, "w2": 0.3, "w3": 0.4, "w4": 0.6, "w5": 0.55, "w6": 0.45,
}


class UserError(SymbackpropError):
    """Bad input: reported as one line, exit code 2."""


class Progress:
    """Stage messages on a terminal's stderr; silent when piped or redirected."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(f"[{time.perf_counter() - self.start:6.1f}s] {message}", file=sys.stderr)


def write_outputs(files: dict[Path, str | bytes]) -> None:
    """Write several files all or nothing: every one to a fresh temporary file first, then
    each renamed into place; on a failure before the renames, nothing is left behind."""
    for target in files:
        if target.is_dir():
            raise UserError(f"{target} is a directory; give a file name")
    made: list[tuple[str, Path]] = []
    try:
        for target, text in files.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            made.append((tmp, target))
            with os.fdopen(fd, "wb") as f:
                f.write(text.encode() if isinstance(text, str) else text)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
    except BaseException:
        for tmp, _target in made:
            Path(tmp).unlink(missing_ok=True)
        raise
    for tmp, target in made:
        os.replace(tmp, target)


def write_output(text: str | bytes, path: str | None) -> None:
    """Write to stdout, or atomically to ``path`` (a temporary file renamed into place)."""
    if path is None or path == "-":
        sys.stdout.write(text if isinstance(text, str) else text.decode())
        return
    target = Path(path)
    if target.is_dir():
        raise UserError(f"{path} is a directory; give a file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a written file should not be private
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- loading --------------------------------------------------------------------------------------
def _load(args) -> tuple:
    """(graph, values, spec) from the SPEC argument, with --notation applied."""
    from ..io.spec import load_spec

    spec = load_spec(args.spec)
    graph, values = spec.graph, dict(spec.values)
    notation = getattr(args, "notation", None)
    if notation:
        graph, values = _renotate(graph, values, notation)
    from ..check.verify import undefined_node

    bad = undefined_node(graph, values)
    if bad:
        raise UserError(f"{args.spec}: values: at these values the node {bad} is not a real "
                        "number (a log or square root of a negative number); give values where "
                        "the graph is defined")
    return graph, values, spec


def _renotate(graph, values: dict, notation: str):
    from ..builders.mlp import MLP, mlp

    if not isinstance(graph, MLP):
        raise UserError("--notation applies to [network] specs; a [graph] spec names its own nodes")
    new = mlp(graph.sizes, graph.activations, graph.loss_name, graph.bias_mode, notation, graph.title)
    # Both nets declare their symbols in the same structural order, so names map one to one.
    rename = {old.name: fresh.name for old, fresh in zip(graph.symbols, new.symbols, strict=True)}
    return new, {rename.get(k, k): v for k, v in values.items()}


def _need_values(graph, values: dict, what: str) -> None:
    missing = [s.name for s in graph.leaves if s.name not in values]
    if missing:
        raise UserError(f"{what} needs [values] for: {', '.join(missing)}")


def _check_notes_size(graph) -> None:
    """Refuse notes for a net too large for them before deriving it, with the way out."""
    from ..document import MAX_NOTES_PARAMETERS

    n = len(graph.parameters)
    if n > MAX_NOTES_PARAMETERS:
        raise UserError(
            f"the network has {n} parameters; notes write equations for every one and are "
            f"readable up to {MAX_NOTES_PARAMETERS}: use the matrix form instead "
            "(symbackprop grad SPEC --matrix, --matrix --latex, or --code)"
        )


#: Per-command limits on parameters, below the spec's 100 000 weights: the scalar forms of
#: `grad` and the per-parameter numbers of `check`, `example` and `grade` grow faster than the
#: net (measured: grad at 10 100 weights 32 s of CPU; check at 10 100 weights over 400 s).
MAX_SCALAR_GRAD_PARAMETERS = 10_000
MAX_NUMBERS_PARAMETERS = 2_000


def _check_size(graph, limit: int, what: str, way_out: str) -> None:
    """Refuse up front a net too large for a command to answer in reasonable time."""
    n = len(graph.parameters)
    if n > limit:
        raise UserError(f"the network has {n} parameters; {what} is limited to {limit}: "
                        f"{way_out}")


def _templates(args) -> str | None:
    """The --templates folder, which must exist (a typo should not fall back to ours silently)."""
    folder = getattr(args, "templates", None)
    if folder is not None and not Path(folder).is_dir():
        raise UserError(f"--templates: no such folder: {folder}")
    return folder


def _example_options(args, spec) -> dict:
    """The worked example's η, digits and rounding: the command line's, else the spec's, else
    the defaults."""
    def first(*choices):
        return next(c for c in choices if c is not None)

    return dict(
        learning_rate=first(args.learning_rate, spec.learning_rate, 0.1),
        digits=first(args.digits, spec.digits, 3),
        rounding=args.rounding or spec.rounding or "display",
    )


# -- subcommands ----------------------------------------------------------------------------------
def _spec_title(spec) -> str | None:
    """The spec's title; None for a model the spec left untitled, whose documents then word
    (and translate) its default title from the model's heading."""
    return None if getattr(spec.graph, "heading", None) else spec.title


def cmd_notes(args) -> int:
    from ..check.worked import worked_example
    from ..derivation.reverse import derive
    from ..output.render import compile_pdf, render

    progress = Progress(None if not args.quiet else False)
    graph, values, spec = _load(args)
    _typesettable_title(args, args.lang or spec.language)
    kind = "slides" if args.slides else "markdown" if args.markdown else \
        "fragment" if args.fragment else "article"
    _check_notes_size(graph)
    progress(f"deriving {graph.title}")
    d = derive(graph, lambda k, n: progress(f"backward sweep: {k} of {n} symbols") if n > 2000
               else None)
    example = None
    have_values = values and all(s.name in values for s in graph.leaves)
    if have_values and not args.no_example:
        example = worked_example(
            d, values, **_example_options(args, spec))
    progress(f"writing the {kind} (every equation is checked)")
    text = render(example or d, kind, title=args.title or _spec_title(spec), author=spec.author,
                  templates=_templates(args), appendix=not args.no_appendix, contrast=args.contrast,
                  matrix=args.matrix, language=args.lang or spec.language,
                  only=[o.strip() for o in args.only.split(",")] if args.only else spec.only,
                  full=args.full)
    if args.pdf:
        if kind in ("markdown", "fragment"):
            raise UserError("--pdf makes a PDF of the article or --slides")
        if not args.output or args.output == "-":
            raise UserError("--pdf needs -o FILE.pdf")
        progress("compiling the PDF")
        compile_pdf(text, args.output, language=args.lang or spec.language)
    else:
        write_output(text, args.output)
    progress("done")
    return EXIT_OK


def cmd_grad(args) -> int:
    import sympy as sp

    from ..derivation.reverse import derive
    from ..printing.latex import TexPrinter

    graph, _values, _spec = _load(args)
    if args.matrix or args.code:
        return _grad_matrix_or_code(graph, args)
    if args.form != "delta" and not args.param:
        _check_size(graph, MAX_SCALAR_GRAD_PARAMETERS, f"grad --form {args.form}",
                    "use --form delta, --matrix or --code, or --param NAME")
    d = derive(graph)
    params = [graph.symbol(args.param)] if args.param else graph.parameters
    tex = TexPrinter(d) if args.latex else None
    lines = []
    for p in params:
        expr = d.gradient(p, form=args.form)
        if tex:
            lhs = tex(sp.Derivative(graph.loss_symbol, p))
            lines.append(f"{lhs} = {tex(expr)}")
        else:
            lines.append(f"d{graph.loss_symbol}/d{p} = {sp.sstr(expr)}")
    write_output("\n".join(lines) + "\n", args.output)
    return EXIT_OK


def _grad_matrix_or_code(graph, args) -> int:
    from ..builders.mlp import MLP
    from ..codegen.matrix import MatrixCodePrinter
    from ..forms.matrix import MatrixLatexPrinter, matrix_form

    target = getattr(args, "target", "numpy")
    if target != "numpy" and not args.code:
        raise UserError("--target goes with --code")
    if not isinstance(graph, MLP):
        if args.matrix:
            raise UserError("--matrix needs a [network] spec: a general graph has no layers")
        from ..codegen.export_scalar import scalar_module
        from ..derivation.reverse import derive

        # a standalone module: it imports only numpy (or torch, jax)
        write_output(scalar_module(derive(graph), target), args.output)
        return EXIT_OK
    form = matrix_form(graph)
    if args.code:
        from ..codegen.export_matrix import matrix_module

        text = matrix_module(form, target)  # standalone, shapes checked
    elif args.latex:
        printer = MatrixLatexPrinter()
        text = "\n".join(eq.latex(printer) for eq in form.equations) + "\n"
    else:  # as the code writes them: @ for products, * entry by entry, .T
        printer = MatrixCodePrinter()
        text = "\n".join(f"{printer.doprint(eq.lhs)} = {printer.doprint(eq.rhs)}"
                         for eq in form.equations) + "\n"
    write_output(text, args.output)
    return EXIT_OK


def cmd_check(args) -> int:
    from ..check.gradcheck import check_gradients

    graph, values, _spec = _load(args)
    _check_size(graph, MAX_NUMBERS_PARAMETERS, "check",
                "use grad --matrix --code for the gradients of a large net")
    _need_values(graph, values, "check")
    report = check_gradients(graph, values, eps=args.eps, rtol=args.rtol)
    write_output(str(report) + "\n", args.output)
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_example(args) -> int:
    from ..check.worked import worked_example
    from ..output.render import render

    graph, values, spec = _load(args)
    _check_size(graph, MAX_NUMBERS_PARAMETERS, "example",
                "use grad --matrix --code for the gradients of a large net")
    _need_values(graph, values, "example")
    ex = worked_example(
        graph, values, **_example_options(args, spec))
    if args.latex or args.markdown:
        text = render(ex, "markdown" if args.markdown else "fragment", title=_spec_title(spec))
    else:
        text = _example_text(ex)
    write_output(text, args.output)
    return EXIT_OK


def _example_text(ex) -> str:
    g = ex.derivation.graph
    out = [f"Worked example ({ex.rounding} rounding, {ex.digits} decimals, "
           f"learning rate {ex.learning_rate:g})", "", "forward pass:"]
    out += [f"  {name} = {ex.show(v)}" for name, v in ex.nodes.items()]
    out += ["", "gradients and one update step:"]
    for p in g.parameters:
        chains = [" * ".join(ex.show(f.value) for f in path) for path in ex.factors[p.name]]
        prod = " + ".join(f"({c})" if len(chains) > 1 else c for c in chains)
        # No listed path: 0 when p does not reach L, else too many paths to list (not 0).
        prod = f"{prod} = " if prod else "0 = " if not ex.derivation.path_count(p) else ""
        out.append(f"  dL/d{p.name} = {prod}{ex.show(ex.gradients[p.name])};"
                   f"  {p.name}' = {ex.show(ex.updated[p.name])}")
    return "\n".join(out) + "\n"


def cmd_lint(args) -> int:
    from ..derivation.reverse import derive
    from ..teaching.lint import lint, read_lint_symbols, read_tex, report

    tex = read_tex(args.tex)  # refused before anything else is read or written
    graph, values, spec = _load(args)
    values = _student_values(args, graph, spec, values)
    _need_values(graph, values, "lint")
    result = lint(tex, derive(graph), values, symbols=read_lint_symbols(args.spec),
                  learning_rate=args.learning_rate or spec.learning_rate or 0.1,
                  language=args.language)
    write_output(report(result, Path(args.tex).name, language=args.language), args.output)
    return EXIT_OK if result.ok else EXIT_FAILED


def _student_values(args, graph, spec, values: dict) -> dict:
    """--student ID: the values of that student's quiz variant (same --seed and --nice as the
    exercises command that made it), instead of the spec's."""
    if not getattr(args, "student", None):
        return values
    from ..teaching.quiz import Student, make_quiz

    (variant,) = make_quiz(graph, [Student(args.student)], args.seed, nice=args.nice,
                           learning_rate=args.learning_rate or spec.learning_rate or 0.1)
    return variant.values


def cmd_grade(args) -> int:
    from ..derivation.reverse import derive
    from ..teaching.grade import grade, load_claims, report

    if str(args.claims).endswith(".tex"):  # an answer in LaTeX: graded line by line by lint
        args.tex = args.claims
        return cmd_lint(args)
    graph, values, spec = _load(args)
    _check_size(graph, MAX_NUMBERS_PARAMETERS, "grade",
                "use grad --matrix --code for the gradients of a large net")
    values = _student_values(args, graph, spec, values)
    _need_values(graph, values, "grade")
    claims = load_claims(args.claims)
    rows = grade(derive(graph), values, claims,
                 learning_rate=next(r for r in (args.learning_rate, spec.learning_rate, 0.1)
                                    if r is not None))
    write_output(report(rows, language=args.language), args.output)
    return EXIT_OK if all(r.ok for r in rows) else EXIT_FAILED


def cmd_exercises(args) -> int:
    from ..output.render import compile_pdf
    from ..teaching.exercises import exercise_sheets

    progress = Progress(None if not args.quiet else False)
    graph, _values, spec = _load(args)
    _check_notes_size(graph)
    progress(f"drawing {args.count} sets of values (seed {args.seed}) and working them out")
    args.rounding = args.rounding or spec.rounding or "by_hand"  # a sheet is worked by hand
    args.language = args.language or spec.language or "en"
    options = _example_options(args, spec)
    variants, extra = _quiz(args, graph, spec, options)
    problems, answers = exercise_sheets(
        graph, args.count, args.seed, **options, title=args.title or "",
        templates=_templates(args), language=args.language,
        value_sets=[v.values for v in variants] if variants else None,
        labels=[" ".join(filter(None, (v.student.id, v.student.name))) for v in variants]
        if args.roster else None,
    )
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; -o takes a folder for the two sheets")
    files: dict[Path, str | bytes] = {}
    for name, text in (("exercises", problems), ("answers", answers)):
        files[out / f"{name}.tex"] = text
        if args.pdf:
            progress(f"compiling {name}.pdf")
            with tempfile.TemporaryDirectory(prefix="symbackprop-") as tmp:
                files[out / f"{name}.pdf"] = compile_pdf(text, Path(tmp) / "x.pdf",
                                                      language=args.language).read_bytes()
    write_outputs(files)  # all of them or none
    for name in ("exercises", "answers"):
        print(f"wrote {out / (name + '.tex')}" + (f" and {name}.pdf" if args.pdf else ""))
    for name, text in extra:
        write_output(text, str(out / name))
        print(f"wrote {out / name}")
    return EXIT_OK


def _quiz(args, graph, spec, options) -> tuple[list, list]:
    """Per-student variants (--roster, --nice, --format moodle) and the files they add."""
    from ..teaching.quiz import Student, make_quiz, moodle_xml, quiz_key, read_roster

    if not (args.roster or args.nice or args.format == "moodle"):
        return [], []
    students = read_roster(args.roster) if args.roster else [
        Student(str(k)) for k in range(1, args.count + 1)]
    variants = make_quiz(graph, students, args.seed, nice=args.nice,
                         learning_rate=options["learning_rate"], digits=options["digits"],
                         language=args.language)
    title = args.title or spec.title or graph.title
    extra = [("quiz-key.tex", quiz_key(variants, title, language=args.language))]
    if args.format == "moodle":
        from ..derivation.reverse import derive
        from ..printing.latex import TexPrinter

        tex = TexPrinter(derive(graph))
        network = [f"{tex(lhs)} = {tex(rhs)}" for lhs, rhs in graph.forward_equations()[:16]]
        extra.append(("quiz.xml", moodle_xml(variants, title, network, language=args.language)))
    return variants, extra


def cmd_demo(args) -> int:
    from ..builders.mlp import mlp
    from ..codegen.scalar import check_gradients, worked_example
    from ..derivation.reverse import derive
    from ..output.render import compile_pdf, have_tex, render

    progress = Progress(None if not args.quiet else False)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    progress("deriving seed 000's 2-2-1 sigmoid network")
    net = mlp([2, 2, 1], activation="sigmoid", loss="mse", bias=False, notation="sequential",
              title="Backpropagation with the chain rule: a 2-2-1 network")
    d = derive(net)
    report = check_gradients(d, DEMO_VALUES)
    ex = worked_example(d, DEMO_VALUES, learning_rate=0.1, digits=3)
    written = []
    for kind, name in (("article", "seed000.tex"), ("slides", "seed000-slides.tex"),
                       ("markdown", "seed000.md")):
        progress(f"writing {name}")
        text = render(ex, kind)
        write_output(text, str(out / name))
        written.append(out / name)
        if kind in ("article", "slides") and have_tex() and not args.no_pdf:
            progress(f"compiling {name} to PDF")
            pdf = out / name.replace(".tex", ".pdf")
            compile_pdf(text, pdf)
            written.append(pdf)
    print(f"Seed 000: dL/dw5 = {ex.show(ex.gradients['w5'])} (the seed wrote -0.01), "
          f"updated w5 = {ex.show(ex.updated['w5'])} (the seed wrote 0.551)")
    print(f"finite-difference check: {'ok' if report.ok else 'FAILED'}, "
          f"max error {report.max_error:.1e}")
    if not have_tex() and not args.no_pdf:
        print("no pdflatex/latexmk found: wrote the LaTeX only (install TeX Live for PDFs)")
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK if report.ok else EXIT_FAILED




def _typesettable_title(args, language: str | None = None) -> None:
    """--title must be typeset in the document's language. Before the spec is read its
    language is unknown: then only what no shipped language typesets is refused here, and
    notes check again once the spec has said its language."""
    from ..printing.latex import untypesettable

    language = language or getattr(args, "lang", None) or getattr(args, "language", None) or "ko"
    bad = untypesettable(getattr(args, "title", None) or "", language)
    if bad:
        raise UserError(f"--title: the character {bad} cannot be typeset in the documents")


def _refuse_overwriting_inputs(args) -> None:
    """-o must not name the spec or the claims file: the output would replace the input."""
    output = getattr(args, "output", None)
    if not output or output == "-" or not Path(output).exists():
        return
    for name in ("spec", "claims"):
        given = getattr(args, name, None)
        if given and Path(given).exists() and os.path.samefile(given, output):
            raise UserError(f"-o {output} is the {name} file itself; write somewhere else")
        if name == "spec" and given and Path(output).is_dir() and Path(given).exists() and any(
                os.path.samefile(given, Path(output) / f) for f in ("exercises.tex", "answers.tex",
                                                                     "exercises.pdf", "answers.pdf")
                if (Path(output) / f).exists()):
            raise UserError(f"-o {output} would overwrite the spec file; write somewhere else")
