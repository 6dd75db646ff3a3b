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

__all__ = ["BatchedResult", "Gradients", "register_with_jax"]


class Gradients(Mapping):
    """Gradients by name: ``now`` as given, and ``later`` (names) computed together by
    ``compute()`` (a dict by name) the first time any of them is read.

    ``now`` is kept, not copied: a call hands over the dict it made (on jax, the one its
    program returned), and at batch 1 a copy per call is part of what is measured."""

    __slots__ = ("_now", "_later", "_compute")

    def __init__(self, now: dict[str, object], later: tuple[str, ...],
                 compute: Callable[[], Mapping[str, object]] | None):
        self._now, self._later, self._compute = now, later, compute

    def __getitem__(self, name: str) -> object:
        if name not in self._now and name in self._later and self._compute is not None:
            done = self._compute()
            self._compute = None
            self._now.update({n: done[n] for n in self._later if n not in self._now})
        return self._now[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._now, *(n for n in self._later if n not in self._now)])

    def __len__(self) -> int:
        return len(set(self._now) | set(self._later))

    def __repr__(self) -> str:
        return f"Gradients({sorted(self)})"

    def computed(self) -> dict[str, object]:
        """The gradients computed so far, by name (nothing is computed by asking)."""
        return self._now


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


class BatchedResult:
    """Per-sample losses, batch-mean parameter gradients (and per-sample input gradients, once
    read), and every array computed by its name in the generated code (on jax only the loss
    and the gradients computed so far: the rest stay inside the compiled program).

    ``arrays`` is given as a dict, or as a function of the result that names them, called
    each time they are read: on jax they are named only then, since a dict built with every
    call was part of what a call costs at batch 1, where few read it."""

    __slots__ = ("loss", "gradients", "_arrays")

    def __init__(self, loss: object, gradients: Mapping[str, object],
                 arrays: dict[str, object] | Callable[[BatchedResult], dict[str, object]]):
        self.loss, self.gradients, self._arrays = loss, gradients, arrays

    @property
    def arrays(self) -> dict[str, object]:
        """Every array computed, by its name in the generated code."""
        arrays = self._arrays
        return arrays if isinstance(arrays, dict) else arrays(self)

    def __repr__(self) -> str:
        return f"BatchedResult(loss={self.loss!r}, gradients={self.gradients!r})"
