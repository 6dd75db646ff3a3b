"""What a deck over its frame limit leaves to the notes, one step at a time (SHORTER).

Each step takes the deck's segments (output/deck.py) and gives them shorter, or the same list
when it has nothing to cut; no step loses a number the worked example shows.

>>> [step.__name__ for step in SHORTER][:2]
['results_only', 'cut']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..document import Document

__all__ = ["SHORTER", "LEFT_TO_THE_NOTES", "results_only", "without", "forward_values"]

#: What a deck over MAX_FRAMES leaves to the notes, one step at a time, before its type shrinks:
#: the local derivatives (each reappears as a factor of a δ line), then the symbolic forward
#: pass (the worked example gives the same lines with numbers), then, for a model whose general
#: form the deck states, the unrolled instance's δs and gradients.
LEFT_TO_THE_NOTES = (("locals",), ("forward",), ("deltas", "gradients"))


def results_only(segments: list[dict], doc: Document) -> list[dict]:
    """The worked example's lines as formula = value, the numbers substituted left to the
    notes: every value is still shown, and computed from lines above it."""
    def shorter(block):
        if block is None or block.kind != "equations" or not any(
                len(eq.steps) > 2 and eq.check == "numbers" for eq in block.equations):
            return block
        return replace(block, equations=[
            replace(eq, steps=[eq.steps[0], eq.steps[-1]])
            if len(eq.steps) > 2 and eq.check == "numbers" else eq for eq in block.equations])

    out = []
    for segment in segments:
        if "section" in segment and segment["section"].key == "worked":
            segment = {**segment, "body": [{**item, "block": shorter(item["block"])}
                                           for item in segment["body"]]}
        out.append(segment)
    return out


def forward_values(segments: list[dict], doc: Document) -> list[dict]:
    """The worked forward pass as a table of values (a model's: its general form, stated in the
    deck, gives every formula), so each value is still shown before a δ uses it."""
    if "model_form" not in doc.keys:
        return segments
    out, changed = [], False
    for segment in segments:
        if "section" in segment and segment["section"].key == "worked":
            body, forward = [], False
            for item in segment["body"]:
                if item["heading"] is not None:
                    forward = item["heading"].key == "worked_forward"
                block = item["block"]
                if forward and block is not None and block.kind == "equations":
                    block = replace(block, equations=[replace(eq, steps=eq.steps[-1:])
                                                      for eq in block.equations])
                    changed = True
                body.append({**item, "block": block})
            segment = {**segment, "body": body}
        out.append(segment)
    return out if changed else segments


def without(keys: tuple[str, ...]) -> Callable[[list[dict], Document], list[dict]]:
    def cut(segments: list[dict], doc: Document) -> list[dict]:
        if "gradients" in keys and "model_form" not in doc.keys:
            return segments  # an MLP's deck keeps its chains: they are what it teaches
        kept = [s for s in segments
                if s.get("section", s.get("frame", {}).get("section")).key not in keys]
        return kept if len(kept) < len(segments) else segments
    return cut


#: The steps in order: the plan applies each until the deck fits.
SHORTER = (results_only, *(without(keys) for keys in LEFT_TO_THE_NOTES), forward_values)
