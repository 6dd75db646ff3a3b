"""The batched evaluator's call on jax: its generated function as two jitted programs, and a
call whose own Python is little more than jit's dispatch.

At batch 1 a model's compiled program takes tens of µs, and a call that checked each array's
dtype in Python (a jax array's ``dtype`` costs about a µs), converted, picked a program by
(batch, dtype) and built dicts around it spent 20-30 µs more: the block network's call was 1.4×
its own program. Here the dtype is chosen when jit traces, from the arrays' abstract values,
so jit's own cache (in C++) tells one shape and dtype from another; the batch length is read
from the traced shapes; arrays of jax, numpy and Python numbers pass straight through, and
anything else (a list) is converted first, as before.

What is left around jit's call was still 5-6 µs of the block network's 75 µs (CPU time of the
calling thread, against the hand-written ``jax.jit(jax.value_and_grad(...))`` called on the
same arrays): a dict of the arrays built name by name, a dict of the gradients built from
jit's output, a copy of it in ``Gradients``, a closure, a dict of every array by name. Now the
values go to jit as one flat tuple gathered in C, each one's type is checked in C, jit's own
output dict (made in C++) is the gradients, and the arrays by name are named when read.

The dtype rule is the evaluator's: float32 when every array given is float32 (numbers without
a dtype, weakly typed to jit, do not count), float64 otherwise; every array is cast to it inside
the program (a convert XLA fuses), as the call cast numpy arrays before.

>>> import numpy as np
>>> dtype_of([(np.dtype("float32"), False), (np.dtype("float64"), True)])
<class 'numpy.float32'>
>>> dtype_of([(np.dtype("float32"), False), (np.dtype("int64"), False)])
<class 'numpy.float64'>
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from operator import itemgetter

import numpy as np

from .array_namespaces import float64_context, is_float32, jax_compiler_options
from .results import BatchedResult, Gradients, register_with_jax

__all__ = ["JaxCall", "dtype_of"]


def dtype_of(kinds: Sequence[tuple[object, bool]]) -> type:
    """The dtype a program computes in, from its arrays' (dtype, weakly typed): float32 when
    every strongly typed one is float32 (and there is one), float64 otherwise."""
    strong = [d for d, weak in kinds if not weak]
    return np.float32 if strong and all(is_float32(d) for d in strong) else np.float64


def _taker(names: Sequence[str]) -> Callable[[Mapping[str, object]], tuple]:
    # itemgetter gathers several values in C (a KeyError names a missing one); of one name
    # it returns the value itself, not a tuple
    if len(names) > 1:
        return itemgetter(*names)
    return lambda given: tuple(given[n] for n in names)


class JaxCall:
    """Calls of one evaluator's generated functions on jax.

    ``program(dtype)`` gives (namespace, ``evaluate``) for a dtype; the namespace also holds
    ``evaluate_inputs``. ``leaves``: (name, is a parameter) of every array a call takes;
    ``batched``: a leaf whose leading axis is the batch; ``loss``, ``grads``: the loss's array
    and (gradient name, array name) of the parameters; ``later``: {array name: gradient name}
    of the inputs' gradients, computed when first read; ``fusions``: whether XLA's CPU library
    fusions stay on (a scan's small products win with them).

    A call hands jit one flat tuple, the inputs' and the parameters' values in a fixed order
    (gathered by ``operator.itemgetter``, in C), and jit hands back the loss and a dict of the
    parameters' gradients by their own names, made in C++: the result's gradients are that
    dict. The arrays by their names in the code are named only when read."""

    def __init__(self, program: Callable[[type], tuple[dict, Callable]],
                 leaves: Sequence[tuple[str, bool]], batched: str, loss: str,
                 grads: Sequence[tuple[str, str]], later: Mapping[str, str], fusions: bool):
        import jax

        register_with_jax()
        inputs = [name for name, parameter in leaves if not parameter]
        parameters = [name for name, parameter in leaves if parameter]
        self._program, self._names, self._batched = program, (*inputs, *parameters), batched
        self._take_inputs, self._take_parameters = _taker(inputs), _taker(parameters)
        self._loss, self._grads, self._later = loss, list(grads), dict(later)
        self._later_names = tuple(self._later.values())
        self._array_names = {**dict(self._grads), **{g: a for a, g in self._later.items()}}
        options = {} if fusions else jax_compiler_options()
        self._main = jax.jit(self._traced(False), compiler_options=options)
        self._inputs = jax.jit(self._traced(True), compiler_options=options)
        # types jit takes as they are: a jax array, a numpy array or scalar, a Python number
        self._direct = {np.ndarray, float, int, np.float32, np.float64}
        self._jax_array, self._config = jax.Array, jax.config
        # bound once: a call hands them to its result
        self._named, self._run_inputs = self._arrays_named, partial(self._run, self._inputs)

    def _traced(self, input_gradients: bool) -> Callable:
        """The function jit traces: dtype and batch from the traced arrays, then the generated
        code; only the loss and the gradients leave the program (XLA need not keep or copy
        out an array nobody reads, nor compute a gradient nobody reads)."""
        import jax

        def run(values: tuple):
            arrays = dict(zip(self._names, values, strict=True))
            dtype = dtype_of([(a.dtype, a.aval.weak_type) for a in arrays.values()])
            with jax.ensure_compile_time_eval():  # a namespace made while tracing: its
                space, evaluate = self._program(dtype)  # constants concrete, kept after
            A = {k: a if a.dtype == dtype else a.astype(dtype) for k, a in arrays.items()}
            A["_batch"] = int(A[self._batched].shape[0])
            out = evaluate(A)
            if input_gradients:
                out = space["evaluate_inputs"](out)
                return {name: out[array] for array, name in self._later.items()}
            return out[self._loss], {name: out[array] for name, array in self._grads}
        return run

    def _converted(self, given: tuple) -> tuple:
        """Arrays jit does not take as they are (a list, a torch tensor) as numpy arrays, in
        the dtype the arrays with one choose; jax's own array type, learnt on first sight."""
        if all(type(v) in self._direct or isinstance(v, self._jax_array) for v in given):
            self._direct.update(type(v) for v in given)
            return given
        dtype = dtype_of([(np.asarray(v).dtype, not hasattr(v, "dtype")) for v in given])
        return tuple(v if isinstance(v, np.ndarray | self._jax_array) else
                     np.asarray(v, dtype=dtype) for v in given)

    def _run(self, program, given: tuple):
        # float64 needs jax's x64; where it is on already (it is in the benchmarks), entering
        # its context again is Python work for nothing
        if self._config.x64_enabled:
            return program(given)
        with float64_context("jax"):
            return program(given)

    def _arrays_named(self, result: BatchedResult) -> dict[str, object]:
        """The loss and the gradients computed so far, by their arrays' names in the code."""
        return {self._loss: result.loss,
                **{self._array_names[n]: a for n, a in result.gradients.computed().items()}}

    def __call__(self, inputs: Mapping[str, object], parameters: Mapping[str, object]
                 ) -> BatchedResult:
        """The loss and parameter gradients now; the inputs' gradients when first read."""
        given = self._take_inputs(inputs) + self._take_parameters(parameters)
        if not self._direct.issuperset(map(type, given)):  # each type checked in C
            given = self._converted(given)
        if self._config.x64_enabled:  # _run's test, inlined: a frame less per call
            loss, now = self._main(given)
        else:
            loss, now = self._run(self._main, given)
        return BatchedResult(loss, Gradients(now, self._later_names,
                                             partial(self._run_inputs, given)),
                             self._named)
