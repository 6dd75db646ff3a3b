"""Exercise sheets: random values for a network, a problem sheet and its answer key.

The answers are worked examples, so every number in the key is computed and checked like the
numbers in the notes. The same seed gives the same sheets.

>>> import symbackprop as sb
>>> sets = draw_values(sb.mlp([2, 2, 1]), count=2, seed=7)
>>> len(sets), sorted(sets[0]) == sorted(s.name for s in sb.mlp([2, 2, 1]).leaves)
(2, True)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..builders.mlp import MLP
from ..check.verify import VerificationError
from ..check.worked import worked_example
from ..core.graph import Graph, Kind
from ..derivation.reverse import derive
from ..document import build_document
from ..document.model import Equations, Section
from ..output.render import environment
from ..output.reports import text
from ..printing.latex import Tex, TexPrinter

__all__ = ["ROUNDINGS", "DEFAULT_ROUNDING", "rounding_rule", "draw_values", "approximate_lines",
           "exercise_sheets"]

#: How an exercise set rounds: every intermediate as by hand, or only each answer.
ROUNDINGS = ("by_hand", "display")
#: A sheet is worked by hand, so its numbers are rounded as a hand calculation rounds them.
DEFAULT_ROUNDING = "by_hand"


def rounding_rule(rounding: str, digits: int | str, language: str = "en") -> str:
    """The one sentence that states an exercise set's rounding, wherever the set says it.

    >>> rounding_rule("by_hand", 3).split(", and")[0]
    'Round every intermediate result to 3 decimals before you use it'
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    return text("_rules.txt.j2", language, macro="rounding_rule", args=(rounding, digits))


def draw_values(graph: Graph, count: int, seed: int) -> list[dict[str, float]]:
    """``count`` sets of values with few digits, so that they can be worked by hand."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 200:
        raise ValueError(f"count must be an integer from 1 to 200, got {count!r}")
    rng = np.random.default_rng(seed)
    loss = getattr(graph, "loss_name", "")
    one_hot = {s for group in graph.one_hot_groups for s in group}
    evaluator = derive(graph).evaluator
    sets = []
    for _ in range(count):
        # Redraw a set whose loss or gradients are not finite (x/w at a drawn w = 0.00): an
        # exercise needs an answer. Twenty tries, then the last draw stands (and is refused).
        for _attempt in range(20):
            values = _draw(graph, rng, loss, one_hot)
            if _finite(evaluator, values):
                break
        sets.append(values)
    return sets


def _finite(evaluator, values: dict[str, float]) -> bool:
    result = evaluator.evaluate(values)
    return bool(np.isfinite(result.loss)) and all(
        bool(np.isfinite(g)) for g in result.gradients.values())


def _draw(graph: Graph, rng, loss: str, one_hot: set) -> dict[str, float]:
    """One set of values: inputs to one decimal, parameters to two, targets 0/1 or one decimal."""
    values: dict[str, float] = {}
    for s in graph.leaves:
        kind = graph.kind(s)
        if kind is Kind.INPUT:
            values[s.name] = round(float(rng.uniform(-1, 1)), 1)
        elif kind is Kind.PARAMETER:
            values[s.name] = round(float(rng.uniform(-1, 1)), 2)
        elif s not in one_hot:
            values[s.name] = float(rng.integers(0, 2)) if loss == "bce" else \
                round(float(rng.uniform(0, 1)), 1)
    for group in graph.one_hot_groups:
        hot = int(rng.integers(0, len(group)))
        values.update({s.name: float(k == hot) for k, s in enumerate(group)})
    return values


def approximate_lines(section: Section) -> list[str]:
    """The equations of a worked section whose result does not follow from the numbers they
    show (printed with ≈): by hand, there is none.

    >>> from symbackprop.document.model import Equation, Equations, Step
    >>> approx = Equation("gradient w1", Tex("g"), [Step([Tex("0.039")], r"\\approx")])
    >>> approximate_lines(Section("worked", blocks=[Equations([approx])]))
    ['gradient w1']
    """
    return [eq.label for sub in section.walk() for block in sub.blocks
            if isinstance(block, Equations) for eq in block.equations
            if any(step.relation != "=" for step in eq.steps)]


def _refuse_approximate(worked: list[Section], digits: int) -> None:
    # The rule the sheet states is applied as stated, or the sheet is not made.
    for k, section in enumerate(worked, 1):
        lines = approximate_lines(section)
        if lines:
            raise ValueError(f"exercise {k}: by hand at {digits} decimals, the key's line "
                             f"'{lines[0]}' does not follow from the numbers it shows; use "
                             "--rounding display (or rounding = \"display\" in the spec's "
                             "[training]), or more --digits")


def exercise_sheets(
    graph: Graph,
    count: int,
    seed: int,
    *,
    learning_rate: float = 0.1,
    digits: int = 3,
    rounding: str = DEFAULT_ROUNDING,
    title: str = "",
    templates: str | Path | None = None,
    language: str = "en",
    value_sets: list[dict[str, float]] | None = None,
    labels: list[str] | None = None,
) -> tuple[str, str]:
    """(problem sheet, answer key) as LaTeX documents, both stating :func:`rounding_rule`.

    ``value_sets`` (one per exercise, e.g. a quiz's per-student values) replaces the random draw;
    ``labels`` name each exercise (a student's id and name).
    """
    d = derive(graph)
    sets = value_sets if value_sets is not None else draw_values(graph, count, seed)
    examples = [worked_example(d, v, learning_rate=learning_rate, digits=digits, rounding=rounding)
                for v in sets]
    try:
        docs = [build_document(d, ex, appendix=False, full=True) for ex in examples]
    except VerificationError as err:
        if rounding != "by_hand":
            raise
        # A normalisation over two values (batch or layer norm) makes some gradients a
        # difference of nearly equal numbers: rounded by hand they are noise, not an answer.
        raise ValueError(f"rounding each intermediate to {digits} decimals by hand loses this "
                         f"network's gradients ({err}); use --rounding display (or rounding = "
                         "\"display\" in the spec's [training]), or more --digits") from None
    worked = [doc.section("worked") for doc in docs]
    if rounding == "by_hand":
        _refuse_approximate(worked, digits)
    network = docs[0].sections[0]
    # A model's sheet gives its general form too (derived and checked), as its notes do.
    general = docs[0].section("model_form") if "model_form" in docs[0].keys else None
    t = docs[0]
    tex = TexPrinter(d)
    problems = []
    for k, ex in enumerate(examples):
        given = [Tex(f"{tex(s)} = {ex.values[s.name]:g}") for s in graph.leaves]
        problems.append({"given": given, "label": labels[k] if labels else ""})
    params = ", ".join(tex(p) for p in graph.parameters[:8]) + (
        r", \ldots" if len(graph.parameters) > 8 else "")
    env = environment(templates=templates, language=language)
    context = dict(
        title=title, network=network, general=general,
        problems=problems,
        worked=worked, learning_rate=f"{learning_rate:g}", params=params,
        rule=rounding_rule(rounding, digits, language),
        loss=tex(graph.loss_symbol), seed=seed, doc=t,
        layered=isinstance(graph, MLP),
    )
    template = env.get_template("exercises.tex.j2")
    return (template.render(answers=False, **context), template.render(answers=True, **context))
