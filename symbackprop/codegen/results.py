"""What a batched evaluator's call returns: the per-sample losses, the gradients, the arrays.

A gradient with respect to an input or a target (∂L/∂x per sample) is computed when it is
first read, not with every call: no parameter gradient and no loss needs it, and the full
convolution it takes was the largest single cost of a channel convolution's call (on jax
about 80% of it). Parameter gradients are computed with the call, as before.

>>> calls = []
>>> def later():
...     calls.append(1)
...     return {"x": 2.0}
>>> g = Gradients({"w": 1.0}, ("x",), later)
>>> sorted(g), g["w"], calls
(['w', 'x'], 1.0, [])
>>> g["x"], g["x"], calls
(2.0, 2.0, [1])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

__all__ = ["BatchedResult", "Gradients", "register_with_jax"]


class Gradients(Mapping):
    """Gradients by name: ``now`` as given, and ``later`` (names) computed together by
    ``compute()`` (a dict by name) the first time any of them is read."""

    def __init__(self, now: Mapping[str, object], later: tuple[str, ...],
                 compute: Callable[[], Mapping[str, object]] | None):
        self._now = dict(now)
        self._later = tuple(n for n in later if n not in self._now)
        self._compute = compute

    def __getitem__(self, name: str) -> object:
        if name not in self._now and name in self._later and self._compute is not None:
            done = self._compute()
            self._compute = None
            self._now.update({n: done[n] for n in self._later})
        return self._now[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._now, *(n for n in self._later if n not in self._now)])

    def __len__(self) -> int:
        return len(set(self._now) | set(self._later))

    def __repr__(self) -> str:
        return f"Gradients({sorted(self)})"


_registered: list[bool] = []


def register_with_jax() -> None:
    """Gradients as a jax pytree of the gradients computed so far, once per process: so that
    ``jax.block_until_ready(out.gradients)`` waits for them (a plain Mapping is one leaf, which
    it would not wait for)."""
    if not _registered:
        import jax

        jax.tree_util.register_pytree_node(
            Gradients, lambda g: (list(g._now.values()), (tuple(g._now), g._later)),
            lambda names, arrays: Gradients(dict(zip(names[0], arrays, strict=True)),
                                            names[1], None))
        _registered.append(True)


@dataclass
class BatchedResult:
    """Per-sample losses, batch-mean parameter gradients (and per-sample input gradients, once
    read), and every array computed (on jax only the loss and the gradients: the rest stay
    inside the compiled program)."""

    loss: object
    gradients: Mapping[str, object]
    arrays: dict[str, object]
