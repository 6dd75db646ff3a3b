"""What the derivation and document commands do: ``notes``, ``grad``, ``check``, ``example``
and ``demo`` read the spec, derive, render and write (the teaching commands are in teaching.py).

The command line itself (arguments, exit codes, one-line errors) is in :mod:`symbackprop.cli.main`;
each ``cmd_<name>(args)`` here takes its parsed arguments and returns an exit code.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import sympy as sp

from ..builders.mlp import MLP, mlp
from ..check.gradcheck import check_gradients
from ..check.worked import require_finite, worked_example
from ..codegen.export_matrix import matrix_module
from ..codegen.export_scalar import scalar_module
from ..codegen.matrix import MatrixCodePrinter
from ..derivation.reverse import derive
from ..forms.matrix import MatrixLatexPrinter, matrix_form
from ..output.render import compile_pdf, have_tex, render
from ..printing.latex import TexPrinter
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    MAX_SCALAR_GRAD_PARAMETERS,
    Progress,
    UserError,
    check_code_size,
    check_written_size,
    example_options,
    need_values,
    notes_limit,
    numbers_limit,
    read_spec,
    real_output,
    refuse_untypesettable_title,
    size_limit,
    templates_folder,
    write_output,
    write_outputs,
)

#: Seed 000's network and numbers (x, y and the initial weights are the seed's inputs).
DEMO_VALUES = {
    "x1": 0.5, "x2": 0.3, "y": 1.0,
    "w1": 0.7, "w2": 0.3, "w3": 0.4, "w4": 0.6, "w5": 0.55, "w6": 0.45,
}


# -- subcommands ----------------------------------------------------------------------------------
def _spec_title(spec) -> str | None:
    """The spec's title; None for a model the spec left untitled, whose documents then word
    (and translate) its default title from the model's heading."""
    return None if getattr(spec.graph, "heading", None) else spec.title


def cmd_notes(args) -> int:
    progress = Progress(None if not args.quiet else False)
    graph, values, spec = read_spec(args, notes_limit)
    refuse_untypesettable_title(args, args.lang or spec.language)
    kind = "slides" if args.slides else "markdown" if args.markdown else \
        "fragment" if args.fragment else "article"
    if args.html:
        if kind in ("markdown", "fragment") or args.pdf:
            raise UserError(f"--html makes a page of the notes or --slides, not of "
                            f"--{'pdf' if args.pdf else kind}")
        kind = "html-slides" if args.slides else "html"
    progress(f"deriving {graph.title}")
    d = derive(graph, lambda k, n: progress(f"backward sweep: {k} of {n} symbols") if n > 2000
               else None)
    example = None
    have_values = values and all(s.name in values for s in graph.leaves)
    if have_values and not args.no_example:
        example = worked_example(
            d, values, **example_options(args, spec))
    progress(f"writing the {kind} (every equation is checked)")
    text = render(example or d, kind, title=args.title or _spec_title(spec), author=spec.author,
                  templates=templates_folder(args), appendix=not args.no_appendix, contrast=args.contrast,
                  matrix=args.matrix, language=args.lang or spec.language,
                  only=[o.strip() for o in args.only.split(",")] if args.only else spec.only,
                  full=args.full)
    if args.pdf:
        if kind in ("markdown", "fragment"):
            raise UserError("--pdf makes a PDF of the article or --slides")
        if not args.output or args.output == "-":
            raise UserError("--pdf needs -o FILE.pdf")
        progress("compiling the PDF")
        compile_pdf(text, real_output(args.output), language=args.lang or spec.language)
    else:
        write_output(text, args)
    progress("done")
    return EXIT_OK


def cmd_grad(args) -> int:
    scalar = not (args.matrix or args.code) and args.form != "delta" and not args.param
    graph, _values, _spec = read_spec(args, size_limit(
        MAX_SCALAR_GRAD_PARAMETERS, f"grad --form {args.form}",
        "use --form delta, --matrix or --code, or --param NAME") if scalar else None)
    if args.matrix or args.code:
        return _grad_matrix_or_code(graph, args)
    check_written_size(graph, args.param, args.form)
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
    write_output("\n".join(lines) + "\n", args)
    return EXIT_OK


def _grad_matrix_or_code(graph, args) -> int:
    target = getattr(args, "target", "numpy")
    if target != "numpy" and not args.code:
        raise UserError("--target goes with --code")
    if not isinstance(graph, MLP):
        if args.matrix:
            raise UserError("--matrix needs a [network] spec: a general graph has no layers")
        # a standalone module: it imports only numpy (or torch, jax)
        check_code_size(graph)
        write_output(scalar_module(derive(graph), target), args)
        return EXIT_OK
    form = matrix_form(graph)
    if args.code:
        text = matrix_module(form, target)  # standalone, shapes checked
    elif args.latex:
        printer = MatrixLatexPrinter()
        text = "\n".join(eq.latex(printer) for eq in form.equations) + "\n"
    else:  # as the code writes them: @ for products, * entry by entry, .T
        printer = MatrixCodePrinter()
        text = "\n".join(f"{printer.doprint(eq.lhs)} = {printer.doprint(eq.rhs)}"
                         for eq in form.equations) + "\n"
    write_output(text, args)
    return EXIT_OK


def cmd_check(args) -> int:
    graph, values, _spec = read_spec(args, numbers_limit("check"))
    need_values(graph, values, "check")
    report = check_gradients(graph, values, eps=args.eps, rtol=args.rtol)
    write_output(str(report) + "\n", args)
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_example(args) -> int:
    graph, values, spec = read_spec(args, numbers_limit("example"))
    need_values(graph, values, "example")
    ex = worked_example(
        graph, values, **example_options(args, spec))
    require_finite(ex)  # ∞ or nan shown for a number is no worked example
    if args.latex or args.markdown:
        text = render(ex, "markdown" if args.markdown else "fragment", title=_spec_title(spec))
    else:
        text = _example_text(ex)
    write_output(text, args)
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


def demo_files(args) -> list[str]:
    """The names demo writes into its -o folder, with these arguments."""
    names = ["seed000.tex", "seed000-slides.tex", "seed000.md"]
    return names + ([] if args.no_pdf else ["seed000.pdf", "seed000-slides.pdf"])


def cmd_demo(args) -> int:
    progress = Progress(None if not args.quiet else False)
    out = Path(args.output)
    progress("deriving seed 000's 2-2-1 sigmoid network")
    net = mlp([2, 2, 1], activation="sigmoid", loss="mse", bias=False, notation="sequential",
              title="Backpropagation with the chain rule: a 2-2-1 network")
    d = derive(net)
    report = check_gradients(d, DEMO_VALUES)
    ex = worked_example(d, DEMO_VALUES, learning_rate=0.1, digits=3)
    files: dict[Path, str | bytes] = {}
    for kind, name in (("article", "seed000.tex"), ("slides", "seed000-slides.tex"),
                       ("markdown", "seed000.md")):
        progress(f"writing {name}")
        text = files[out / name] = render(ex, kind)
        if kind in ("article", "slides") and have_tex() and not args.no_pdf:
            progress(f"compiling {name} to PDF")
            with tempfile.TemporaryDirectory(prefix="symbackprop-") as tmp:
                files[out / name.replace(".tex", ".pdf")] = compile_pdf(
                    text, Path(tmp) / "x.pdf").read_bytes()
    write_outputs(files, args)  # all of them or none
    written = list(files)
    print(f"Seed 000: dL/dw5 = {ex.show(ex.gradients['w5'])} (the seed wrote -0.01), "
          f"updated w5 = {ex.show(ex.updated['w5'])} (the seed wrote 0.551)")
    print(f"finite-difference check: {'ok' if report.ok else 'FAILED'}, "
          f"max error {report.max_error:.1e}")
    if not have_tex() and not args.no_pdf:
        print("no pdflatex/latexmk found: wrote the LaTeX only (install TeX Live for PDFs)")
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK if report.ok else EXIT_FAILED
