"""The batched evaluator's call on jax: its generated function as two jitted programs, and a
call whose own Python is little more than jit's dispatch.

At batch 1 a model's compiled program takes tens of µs, and a call that checked each array's
dtype in Python (a jax array's ``dtype`` costs about a µs), converted, picked a program by
(batch, dtype) and built dicts around it spent 20-30 µs more: the block network's call was 1.4×
its own program. Here the dtype is chosen when jit traces, from the arrays' abstract values,
so jit's own cache (in C++) tells one shape and dtype from another; the batch length is read
from the traced shapes; arrays of jax, numpy and Python numbers pass straight through, and
anything else (a list) is converted first, as before.

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

import numpy as np

from .array_namespaces import float64_context, is_float32, jax_compiler_options
from .results import BatchedResult, Gradients, register_with_jax

__all__ = ["JaxCall", "dtype_of"]


def dtype_of(kinds: Sequence[tuple[object, bool]]) -> type:
    """The dtype a program computes in, from its arrays' (dtype, weakly typed): float32 when
    every strongly typed one is float32 (and there is one), float64 otherwise."""
    strong = [d for d, weak in kinds if not weak]
    return np.float32 if strong and all(is_float32(d) for d in strong) else np.float64


class JaxCall:
    """Calls of one evaluator's generated functions on jax.

    ``program(dtype)`` gives (namespace, ``evaluate``) for a dtype; the namespace also holds
    ``evaluate_inputs``. ``leaves``: (name, is a parameter) of every array a call takes;
    ``batched``: a leaf whose leading axis is the batch; ``kept``: the names the call returns
    (the loss and the parameters' gradients' arrays); ``later``: {array name: gradient name}
    of the inputs' gradients, computed when first read; ``loss``, ``grads``: the loss's array
    and (gradient name, array name) of the parameters; ``fusions``: whether XLA's CPU library
    fusions stay on (a scan's small products win with them)."""

    def __init__(self, program: Callable[[type], tuple[dict, Callable]],
                 leaves: Sequence[tuple[str, bool]], batched: str, loss: str,
                 grads: Sequence[tuple[str, str]], later: Mapping[str, str], fusions: bool):
        import jax

        register_with_jax()
        self._program, self._leaves, self._batched = program, list(leaves), batched
        self._loss, self._grads, self._later = loss, list(grads), dict(later)
        options = {} if fusions else jax_compiler_options()
        kept = [loss] + [g for _, g in grads]
        self._main = jax.jit(self._traced(kept, False), compiler_options=options)
        self._inputs = jax.jit(self._traced(list(later), True), compiler_options=options)
        # types jit takes as they are: a jax array, a numpy array or scalar, a Python number
        self._direct = {np.ndarray, float, int, np.float32, np.float64}
        self._jax_array, self._config = jax.Array, jax.config

    def _traced(self, keep: list[str], input_gradients: bool) -> Callable:
        """The function jit traces: dtype and batch from the traced arrays, then the generated
        code; only ``keep`` leaves the program (XLA need not keep or copy out an array nobody
        reads, nor compute a gradient nobody reads)."""
        import jax

        def run(arrays):
            dtype = dtype_of([(a.dtype, a.aval.weak_type) for a in arrays.values()])
            with jax.ensure_compile_time_eval():  # a namespace made while tracing: its
                space, evaluate = self._program(dtype)  # constants concrete, kept after
            A = {k: a if a.dtype == dtype else a.astype(dtype) for k, a in arrays.items()}
            A["_batch"] = int(A[self._batched].shape[0])
            out = evaluate(A)
            if input_gradients:
                out = space["evaluate_inputs"](out)
            return {name: out[name] for name in keep}
        return run

    def _arrays(self, inputs: Mapping[str, object], parameters: Mapping[str, object]
                ) -> dict[str, object]:
        given = {}
        for name, parameter in self._leaves:
            g = parameters[name] if parameter else inputs[name]
            if type(g) not in self._direct:
                if not isinstance(g, self._jax_array):
                    return self._converted(inputs, parameters)
                self._direct.add(type(g))  # jax's array type, learnt on first sight
            given[name] = g
        return given

    def _converted(self, inputs: Mapping[str, object], parameters: Mapping[str, object]
                   ) -> dict[str, object]:
        """Arrays jit does not take as they are (a list, a torch tensor) as numpy arrays, in
        the dtype the arrays with one choose."""
        given = {name: parameters[name] if parameter else inputs[name]
                 for name, parameter in self._leaves}
        dtype = dtype_of([(np.asarray(v).dtype, not hasattr(v, "dtype"))
                          for v in given.values()])
        return {n: v if isinstance(v, np.ndarray | self._jax_array) else np.asarray(v, dtype=dtype)
                for n, v in given.items()}

    def _run(self, program, given: dict[str, object]) -> dict[str, object]:
        # float64 needs jax's x64; where it is on already (it is in the benchmarks), entering
        # its context again is Python work for nothing
        if self._config.x64_enabled:
            return program(given)
        with float64_context("jax"):
            return program(given)

    def __call__(self, inputs: Mapping[str, object], parameters: Mapping[str, object]
                 ) -> BatchedResult:
        """The loss and parameter gradients now; the inputs' gradients when first read."""
        given = self._arrays(inputs, parameters)
        out = self._run(self._main, given)

        def later() -> dict[str, object]:
            done = self._run(self._inputs, given)
            out.update(done)
            return {self._later[k]: a for k, a in done.items()}
        gradients = Gradients({n: out[g] for n, g in self._grads},
                              tuple(self._later.values()), later)
        return BatchedResult(out[self._loss], gradients, out)
