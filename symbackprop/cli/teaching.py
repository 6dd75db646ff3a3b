"""What the teaching commands do: ``lint`` and ``grade`` judge a student's work against the
derivation, ``exercises`` writes problem sheets, answer keys and per-student quizzes.

Each ``cmd_<name>(args)`` takes its parsed arguments and returns an exit code, as in commands.py.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from ..derivation.reverse import derive
from ..output.render import compile_pdf
from ..teaching.exercises import DEFAULT_ROUNDING, ROUNDINGS, exercise_sheets, rounding_rule
from ..teaching.grade import grade, load_claims
from ..teaching.grade import report as grade_report
from ..teaching.lint import lint, read_lint_symbols, read_tex
from ..teaching.lint import report as lint_report
from ..teaching.quiz import (
    Student,
    make_quiz,
    moodle_xml,
    network_equations,
    quiz_key,
    read_roster,
)
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    Progress,
    example_options,
    need_values,
    notes_limit,
    numbers_limit,
    read_spec,
    templates_folder,
    write_output,
    write_outputs,
)


def cmd_lint(args, limit: Callable[[int], None] | None = None) -> int:
    tex = read_tex(args.tex)  # refused before anything else is read or written
    graph, values, spec = read_spec(args, limit)
    values = _student_values(args, graph, spec, values)
    need_values(graph, values, "lint")
    result = lint(tex, derive(graph), values, symbols=read_lint_symbols(args.spec),
                  learning_rate=args.learning_rate or spec.learning_rate or 0.1,
                  language=args.language)
    write_output(lint_report(result, Path(args.tex).name, language=args.language), args)
    return EXIT_OK if result.ok else EXIT_FAILED


def _student_values(args, graph, spec, values: dict) -> dict:
    """--student ID: the values of that student's quiz variant (same --seed and --nice as the
    exercises command that made it), instead of the spec's."""
    if not getattr(args, "student", None):
        return values
    (variant,) = make_quiz(graph, [Student(args.student)], args.seed, nice=args.nice,
                           learning_rate=args.learning_rate or spec.learning_rate or 0.1)
    return variant.values


def cmd_grade(args) -> int:
    if str(args.claims).endswith(".tex"):  # an answer in LaTeX: graded line by line by lint
        args.tex = args.claims
        return cmd_lint(args, numbers_limit("grade"))  # graded as claims are: the same limit
    graph, values, spec = read_spec(args, numbers_limit("grade"))
    values = _student_values(args, graph, spec, values)
    need_values(graph, values, "grade")
    claims = load_claims(args.claims)
    # a student's quiz is graded by the rule its sheets stated (exercises' default, by hand)
    rule = DEFAULT_ROUNDING if getattr(args, "student", None) else "display"
    rows = grade(derive(graph), values, claims,
                 learning_rate=next(r for r in (args.learning_rate, spec.learning_rate, 0.1)
                                    if r is not None),
                 rounding=getattr(args, "rounding", None) or (
                     spec.rounding if args.student else None) or rule)
    write_output(grade_report(rows, language=args.language), args)
    return EXIT_OK if all(r.ok for r in rows) else EXIT_FAILED


def cmd_exercises(args) -> int:
    progress = Progress(None if not args.quiet else False)
    graph, _values, spec = read_spec(args, notes_limit)
    progress(f"drawing {args.count} sets of values (seed {args.seed}) and working them out")
    args.rounding = args.rounding or spec.rounding or DEFAULT_ROUNDING
    args.language = args.language or spec.language or "en"
    options = example_options(args, spec)
    variants, extra = _quiz(args, graph, spec, options)
    problems, answers = exercise_sheets(
        graph, args.count, args.seed, **options, title=args.title or "",
        templates=templates_folder(args), language=args.language,
        value_sets=[v.values for v in variants] if variants else None,
        labels=[" ".join(filter(None, (v.student.id, v.student.name))) for v in variants]
        if args.roster else None,
    )
    out = Path(args.output)
    files: dict[Path, str | bytes] = {}
    for name, text in (("exercises", problems), ("answers", answers)):
        files[out / f"{name}.tex"] = text
        if args.pdf:
            progress(f"compiling {name}.pdf")
            with tempfile.TemporaryDirectory(prefix="symbackprop-") as tmp:
                files[out / f"{name}.pdf"] = compile_pdf(text, Path(tmp) / "x.pdf",
                                                      language=args.language).read_bytes()
    files.update((out / name, text) for name, text in extra)
    write_outputs(files, args)  # all of them or none: only then is anything said written
    for name in ("exercises", "answers"):
        print(f"wrote {out / (name + '.tex')}" + (f" and {name}.pdf" if args.pdf else ""))
    for name, _text in extra:
        print(f"wrote {out / name}")
    return EXIT_OK


def exercises_rounding_help() -> str:
    """exercises' --rounding help: each choice's rule in the words the sheets state it (N
    standing for --digits), and the default cmd_exercises applies."""
    rules = " ".join(f"{name}: {rounding_rule(name, 'N')}" for name in ROUNDINGS)
    return (f"how the sheets, the key and the quiz round, in the words they state it (N is "
            f"--digits). {rules} Default: the spec's [training] rounding, else {DEFAULT_ROUNDING}.")


def exercises_files(args) -> list[str]:
    """The names exercises writes into its -o folder, with these arguments."""
    names = ["exercises.tex", "answers.tex"]
    names += ["exercises.pdf", "answers.pdf"] if args.pdf else []
    names += ["quiz-key.tex"] if args.roster or args.nice or args.format == "moodle" else []
    return names + (["quiz.xml"] if args.format == "moodle" else [])


def _quiz(args, graph, spec, options) -> tuple[list, list]:
    """Per-student variants (--roster, --nice, --format moodle) and the files they add."""
    if not (args.roster or args.nice or args.format == "moodle"):
        return [], []
    students = read_roster(args.roster, args.language) if args.roster else [
        Student(str(k)) for k in range(1, args.count + 1)]
    variants = make_quiz(graph, students, args.seed, nice=args.nice,
                         learning_rate=options["learning_rate"], digits=options["digits"],
                         rounding=options["rounding"], language=args.language)
    title = args.title or spec.title or graph.title
    extra = [("quiz-key.tex", quiz_key(variants, title, language=args.language))]
    if args.format == "moodle":
        network = network_equations(derive(graph))
        extra.append(("quiz.xml", moodle_xml(variants, title, network, language=args.language)))
    return variants, extra
