"""What the caller of :func:`~symbackprop.document.build_document` chose, fixed for the build.

>>> DocumentOptions(only=("w_1",)).appendix
True
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DocumentOptions"]


@dataclass(frozen=True)
class DocumentOptions:
    """The notes' options; each default is build_document's."""

    #: The document's title (None: the network's own, or a model's translated heading).
    title: str | None = None
    author: str = ""
    #: The appendix of the activations' derivatives (and softmax's, with one-hot targets).
    appendix: bool = True
    #: The expanded gradient of the first parameter, written without backpropagation.
    contrast: bool = False
    #: An MLP's matrix form (None: when its notation is the matrix one).
    matrix: bool | None = None
    #: The parameters whose whole chain is written out (None: chosen by the net's size).
    only: tuple[str, ...] | None = None
    #: Every chain written out, and a model's every unrolled equation.
    full: bool = False
    abstract: bool = True
    language: str = "en"
