"""What every ``symbackprop`` subcommand shares: exit codes, the one-line UserError, progress
messages, all-or-nothing writes, reading the SPEC argument and the refusals made before any work.

>>> EXIT_OK, EXIT_FAILED, EXIT_INPUT
(0, 1, 2)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..builders.mlp import MLP, mlp
from ..check.floats import undefined_node
from ..core.errors import SymbackpropError
from ..core.files import FileError, refuse_output, write_files
from ..derivation.reverse import MAX_CHAIN_PATHS
from ..derivation.walk import paths_to_loss
from ..document import MAX_NOTES_PARAMETERS
from ..io.spec import load_spec
from ..printing.latex import untypesettable

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


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


#: The files a command reads, by the attribute argparse gives each and what messages call it.
_INPUTS = (("spec", "spec file"), ("claims", "claims file"), ("tex", "LaTeX file"),
           ("roster", "roster"))


def inputs_of(args) -> dict[str, str]:
    """The files this command reads, by what each is: no output may be one of them."""
    return {what: getattr(args, name) for name, what in _INPUTS if getattr(args, name, None)}


def write_outputs(files: dict[Path, str | bytes], args) -> None:
    """Write several files all or nothing (see :func:`symbackprop.core.files.write_files`),
    none of them over one of the command's inputs."""
    write_files(files, inputs_of(args))


def write_output(text: str | bytes, args) -> None:
    """Write to stdout, or all or nothing to the -o file."""
    path = args.output
    if path is None or path == "-":
        sys.stdout.write(text if isinstance(text, str) else text.decode())
        return
    write_files({Path(path): text}, inputs_of(args))


# -- loading --------------------------------------------------------------------------------------
def read_spec(args, limit: Callable[[int], None] | None = None) -> tuple:
    """(graph, values, spec) from the SPEC argument, with --notation applied. ``limit`` (a
    command's, from :func:`size_limit` or :func:`notes_limit`) refuses the model from the spec's
    numbers, before anything is built."""
    spec = load_spec(args.spec, limit)
    graph, values = spec.graph, dict(spec.values)
    if limit is not None:  # the count the reader gave it is the built graph's; kept honest here
        limit(len(graph.parameters))
    notation = getattr(args, "notation", None)
    if notation:
        graph, values = _renotate(graph, values, notation)
    bad = undefined_node(graph, values)
    if bad:
        raise UserError(f"{args.spec}: values: at these values the node {bad} is not a real "
                        "number (a log or square root of a negative number); give values where "
                        "the graph is defined")
    return graph, values, spec


def _renotate(graph, values: dict, notation: str):
    if not isinstance(graph, MLP):
        raise UserError("--notation applies to [network] specs; a [graph] spec names its own nodes")
    new = mlp(graph.sizes, graph.activations, graph.loss_name, graph.bias_mode, notation, graph.title)
    # Both nets declare their symbols in the same structural order, so names map one to one.
    rename = {old.name: fresh.name for old, fresh in zip(graph.symbols, new.symbols, strict=True)}
    return new, {rename.get(k, k): v for k, v in values.items()}


def need_values(graph, values: dict, what: str) -> None:
    """Refuse a command that works with numbers when [values] leaves a leaf out."""
    missing = [s.name for s in graph.leaves if s.name not in values]
    if missing:
        raise UserError(f"{what} needs [values] for: {', '.join(missing)}")


def notes_limit(n: int) -> None:
    """Refuse notes (and exercise sheets) for a net of ``n`` parameters, too large for them,
    with the way out."""
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


def size_limit(limit: int, what: str, way_out: str) -> Callable[[int], None]:
    """The refusal of a net over ``limit`` parameters, too large for ``what`` to answer in
    reasonable time, as :func:`read_spec` takes it."""
    def refuse(n: int) -> None:
        if n > limit:
            raise UserError(f"the network has {n} parameters; {what} is limited to {limit}: "
                            f"{way_out}")
    return refuse


def numbers_limit(what: str) -> Callable[[int], None]:
    """:func:`size_limit` at MAX_NUMBERS_PARAMETERS for ``what``, a command that computes
    numbers for every parameter (check, example, grade)."""
    return size_limit(MAX_NUMBERS_PARAMETERS, what,
                      "use grad --matrix --code for the gradients of a large net")


#: Terms of the node equations a standalone scalar module (`grad --code` for a model other than
#: an MLP, whose matrix module has no such limit) is written from: it prints and lambdifies
#: every one, ~3 ms a term (measured: an RNN of 16-32-16 over 2 steps, 3 298 terms, 8.7 s; its
#: largest, 64 steps, ~130 000 terms, ran past 10 minutes).
MAX_SCALAR_CODE_TERMS = 5_000


def check_code_size(graph) -> None:
    """Refuse up front a standalone scalar module too large to write in reasonable time."""
    terms = sum(len(expr.args) if expr.is_Add else 1 for _node, expr in
                graph.forward_equations())
    if terms > MAX_SCALAR_CODE_TERMS:
        raise UserError(f"the model's equations have {terms} terms; grad --code writes a scalar "
                        f"module for it and is limited to {MAX_SCALAR_CODE_TERMS}: use --form "
                        "delta, or the model's general form in Python (sb.general_form(model)"
                        ".evaluator()), which computes the same gradients at any size")


#: Chain-rule paths written in all by one `grad` in node symbols: a batch multiplies them (a
#: network of blocks at batch 16 with 6 240 weights has 3.2 million, which ran past 10 minutes);
#: an MLP at the 10 000-parameter limit has about 10 000.
MAX_WRITTEN_PATHS = 200_000


def check_written_size(graph, parameter: str | None, form: str) -> None:
    """Refuse up front a gradient in node symbols that would be too long to write: it has a
    term per chain-rule path, and an unrolled RNN's paths grow as (hidden units)^(steps)."""
    if form == "delta":
        return
    counts = paths_to_loss(graph)
    chosen = [graph.symbol(parameter)] if parameter else graph.parameters
    widest = max(chosen, key=lambda p: counts.get(p, 0), default=None)
    total = sum(counts.get(p, 0) for p in chosen)
    if total > MAX_WRITTEN_PATHS and counts.get(widest, 0) <= MAX_CHAIN_PATHS:
        raise UserError(f"the gradients have {total} chain-rule paths in all, a term each in "
                        f"--form {form}; grad writes up to {MAX_WRITTEN_PATHS}: use --form delta "
                        "(δ symbols), --param NAME or --code")
    if widest is not None and counts.get(widest, 0) > MAX_CHAIN_PATHS:
        paths = counts[widest]
        shown = f"{paths}" if paths < 10**12 else f"about 10^{len(str(paths)) - 1}"
        raise UserError(f"dL/d{widest} has {shown} chain-rule paths, a term each in --form "
                        f"{form}; it is written up to {MAX_CHAIN_PATHS}: use --form delta "
                        "(δ symbols) or --code")


def templates_folder(args) -> str | None:
    """The --templates folder, which must exist (a typo should not fall back to ours silently)."""
    folder = getattr(args, "templates", None)
    if folder is not None and not Path(folder).is_dir():
        raise UserError(f"--templates: no such folder: {folder}")
    if folder is not None:
        # jinja2 opens a template as a file: a pipe among them would block it forever.
        with os.scandir(folder) as entries:
            for k, entry in enumerate(entries):
                if k >= MAX_TEMPLATE_ENTRIES:
                    raise UserError(f"--templates: {folder} holds more than "
                                    f"{MAX_TEMPLATE_ENTRIES} entries; give a folder of templates")
                if entry.name.endswith(".j2") and not entry.is_dir() and not entry.is_file():
                    raise UserError(f"--templates: {entry.path} is not a regular file")
    return folder


#: The most entries a --templates folder may hold (ours are a dozen).
MAX_TEMPLATE_ENTRIES = 1000


def example_options(args, spec) -> dict:
    """The worked example's η, digits and rounding: the command line's, else the spec's, else
    the defaults."""
    def first(*choices):
        return next(c for c in choices if c is not None)

    return dict(
        learning_rate=first(args.learning_rate, spec.learning_rate, 0.1),
        digits=first(args.digits, spec.digits, 3),
        rounding=args.rounding or spec.rounding or "display",
    )


# -- refused before any command runs (main calls these first) ------------------------------------
def refuse_untypesettable_title(args, language: str | None = None) -> None:
    """--title must be typeset in the document's language. Before the spec is read its
    language is unknown: then only what no shipped language typesets is refused here, and
    notes check again once the spec has said its language."""
    language = language or getattr(args, "lang", None) or getattr(args, "language", None) or "ko"
    bad = untypesettable(getattr(args, "title", None) or "", language)
    if bad:
        raise UserError(f"--title: the character {bad} cannot be typeset in the documents")


def refuse_overwriting_inputs(args) -> None:
    """-o must not name one of the command's inputs, a pipe or a device; a command that writes
    a folder (its ``output_files(args)`` names what it writes there) must find no input and no
    folder where one of its files goes. Refused before any work."""
    output = getattr(args, "output", None)
    if output == "":
        raise UserError("-o: an empty name; give a file name, or - for stdout")
    if output is None or output == "-":
        return
    names = args.output_files(args) if getattr(args, "output_files", None) else None
    if names is not None and os.path.exists(output) and not os.path.isdir(output):
        raise UserError(f"-o {output} is not a folder; -o takes a folder for the files "
                        f"{', '.join(names)}")
    targets = [Path(output) / name for name in names] if names is not None else [Path(output)]
    inputs = inputs_of(args)
    for target in targets:
        try:
            refuse_output(target, inputs)
        except FileError as err:
            raise UserError(f"-o {err}") from None
        if names is None and target.is_dir():
            raise UserError(f"-o {output} is a directory; give a file name")
        if names is not None and target.is_dir():
            raise UserError(f"{target} is a directory, where a file is to be written; move it "
                            "away or give another -o")


def real_output(path: str) -> str:
    """Where -o writes: through a symbolic link, the file it names (so that ``-o /dev/stdout``
    never replaces the link itself)."""
    return os.path.realpath(path)
