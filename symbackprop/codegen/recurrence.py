"""How the batched evaluator runs a group of definitions that refers to itself at a shifted index
(h[t−1] in an RNN's forward pass, δ[t+1] in BPTT): the terms free of the recursion as one
vectorised line for every step, then the rest step by step along the index.

On numpy and torch the steps are unrolled, one line per step and quantity, each writing its
slice of a preallocated array. On jax one step is written once, as the body of one loop
(codegen/jax_scan.py, a scan over the arrays in their own layout): its carry is the previous
step's slices of the group's quantities (zero before the first step, as the general form reads
an entry outside its range), its inputs the slices at the step of every other array the body
reads along the index (zero past either end), its outputs written along the index of their own
arrays; XLA compiles one loop instead of T copies of the step, as a hand-written ``lax.scan``
model does.

>>> import sympy as sp
>>> from symbackprop.core.indexed import Quantity
>>> t, j = sp.symbols("t j")
>>> h = Quantity("h", "h", "node", (t, j), ((1, 4), (1, 3)))
>>> rhs = sp.tanh(sp.IndexedBase("x")[t, j] + sp.IndexedBase("h")[t - 1, j])
>>> recursion(rhs, {"h"}, h)
(t, 1)
>>> plan = scan_plan([("h", h, rhs)], t, 1)
>>> plan.rhs["h"], plan.carry, plan.xs
(tanh(h__m1[t, j] + x[t, j]), {'h__m1': 'h'}, [('x', 'x', 0, 0)])
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..core import ops
from ..core.indexed import Quantity, as_basic

__all__ = ["Recurrences", "ScanPlan", "recursion", "scan_plan", "on_step_views",
           "hoist_step_factors"]

# a step's slice of a (batch, T, n) array, as the unrolled lines read it
_SLICE = re.compile(r"A\['(\w+)'\]\[:, (\d+):\d+, :\]")
_SLICE_RESHAPED = re.compile(_SLICE.pattern + r"\.reshape\((\([^()]*\))\)")
_TO_ROWS = re.compile(r"\.reshape\(\(-1, (\d+)\)\)")
_TO_STEP = re.compile(r"\.reshape\(\(A\['_batch'\], 1, (\d+), \)\)$")
# what may stand between the slices of an elementwise expression: numbers, arithmetic, and
# the elementwise activations' kernels (tanh(…), sigmoid(…))
_ELEMENTWISE = re.compile(r"(?:[\s\d.e()+\-*/]|\b(?:" + "|".join(
    re.escape(n) for n in sorted(ops.ELEMENTWISE, key=len, reverse=True)) + r")\()*")


def _opening(code: str, end: int) -> int:
    """Where the parenthesised expression ending just before ``end`` starts (or the name of the
    slice ending there): the start of what ``.reshape`` at ``end`` is applied to."""
    if code[end - 1] == "]":  # a slice: its array's A['name']
        return code.rfind("A[", 0, code.rfind("[", 0, end - 1) + 1)
    depth = 0
    for k in range(end - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(code[k], 0)
        if depth == 0:
            while k and (code[k - 1].isalnum() or code[k - 1] == "_"):
                k -= 1  # a function's name belongs to the call
            return k
    return -1


def _as_views(expression: str, width: dict[str, int], n: int) -> str | None:
    """``expression`` (elementwise in step slices of one reshaped shape) on the slices' 2-D
    (batch, n) views, or None when it is not that."""
    reads = list(_SLICE_RESHAPED.finditer(expression))
    if not reads or len({m.group(3) for m in reads}) != 1 or any(
            width.get(m.group(1)) != n for m in reads):
        return None
    rest = _SLICE_RESHAPED.sub("", expression)
    if "A[" in rest or not _ELEMENTWISE.fullmatch(rest):
        return None
    return _SLICE_RESHAPED.sub(lambda m: f"A[{m.group(1)!r}][:, {m.group(2)}, :]", expression)


def on_step_views(line: str, width: dict[str, int]) -> str:
    """One unrolled step's line with its elementwise work done on 2-D (batch, n) views of the
    step's slices: a (batch, 1, n) slice reshaped to 5 axes, worked on, then reshaped to
    (batch·1, n) rows or back to (batch, 1, n), is the same numbers as its [:, t, :] view, with
    no reshape. ``width``: each (batch, T, n) array's n.

    >>> on_step_views("A['h'][:, 1:2, :] = tanh(A['a'][:, 1:2, :].reshape((-1, 1, 2, 1, ))"
    ...               ").reshape((A['_batch'], 1, 2, ))", {"a": 2, "h": 2})
    "A['h'][:, 1, :] = tanh(A['a'][:, 1, :])"
    """
    target, _, code = line.partition(" = ")
    whole = _SLICE.fullmatch(target)
    if whole is None or width.get(whole.group(1)) is None:
        return line
    for m in reversed(list(_TO_ROWS.finditer(code))):  # (…).reshape((-1, n)): a matmul's rows
        n, start = int(m.group(1)), _opening(code, m.start())
        inner = code[start:m.start()]
        single = _SLICE.fullmatch(inner)
        if single and width.get(single.group(1)) == n:
            code = code[:start] + f"A[{single.group(1)!r}][:, {single.group(2)}, :]" + \
                code[m.end():]
            continue
        views = _as_views(inner, width, n) if start >= 0 else None
        if views is not None:
            code = code[:start] + views + code[m.end():]
    n = width[whole.group(1)]
    step = _TO_STEP.search(code)
    if step and int(step.group(1)) == n and _opening(code, step.start()) == 0:
        views = _as_views(code[:step.start()], width, n)  # the whole line, elementwise
        if views is not None:
            return f"A[{whole.group(1)!r}][:, {whole.group(2)}, :] = {views}"
    # (matmul(rows, M).reshape((batch, 1, n)) + own slice): the (batch, n) sum, on views
    matmul = re.fullmatch(r"\(matmul\((.*), (A\['_w\d+'\])\)\.reshape\(\(A\['_batch'\], 1, "
                          rf"{n}, \)\) \+ A\['(\w+)'\]\[:, {whole.group(2)}:\d+, :\]\)", code)
    if matmul and ".reshape" not in matmul.group(1) and not _SLICE.search(matmul.group(1)) \
            and width.get(matmul.group(3)) == n:
        return (f"A[{whole.group(1)!r}][:, {whole.group(2)}, :] = (matmul({matmul.group(1)}, "
                f"{matmul.group(2)}) + A[{matmul.group(3)!r}][:, {whole.group(2)}, :])")
    return f"{target} = {code}"


def recursion(rhs: sp.Expr, names: set[str], q: Quantity):
    """(index, +1 or −1) if rhs uses the group's entries at a shifted index, else None."""
    for atom in rhs.atoms(sp.Indexed):
        if atom.base.name not in names:
            continue
        for v, e in zip(q.indices, atom.indices, strict=True):
            shift = as_basic(e - v)
            if shift.is_number and shift != 0:
                return v, (1 if shift < 0 else -1)
    return None


@dataclass
class ScanPlan:
    """One step of a recursion group written for a scan: each member's rhs with every entry read
    along the index renamed to a step-local array; ``carry``: step-local name -> the member whose
    previous step it is; ``xs``: (step-local name, array, position of the index, shift)."""

    rhs: dict[str, sp.Expr]
    carry: dict[str, str] = field(default_factory=dict)
    xs: list[tuple[str, str, int, int]] = field(default_factory=list)


def _local_name(name: str, shift: int) -> str:
    return name if shift == 0 else f"{name}__{'p' if shift > 0 else 'm'}{abs(shift)}"


def scan_plan(members: list[tuple[str, Quantity, sp.Expr]], var: sp.Symbol, direction: int
              ) -> ScanPlan | None:
    """The step of a group running along ``var`` (``direction`` +1: upwards), or None when its
    equations read along ``var`` in a way a scan's carry cannot hold (a shift of two steps, an
    index other than var + constant, var outside an index): those steps stay unrolled."""
    names = {target for target, _, _ in members}
    plan = ScanPlan({})
    xs: dict[str, tuple[str, str, int, int]] = {}
    for target, _, rhs in members:
        renamed = {}
        for atom in rhs.atoms(sp.Indexed):
            along = [k for k, e in enumerate(atom.indices) if var in as_basic(e).free_symbols]
            if not along:
                continue
            shift = as_basic(atom.indices[along[0]] - var)
            if len(along) > 1 or not shift.is_Integer:
                return None
            shift, name = int(shift), atom.base.name
            if name in names:
                if shift not in (0, -direction):
                    return None
                if shift:
                    plan.carry[_local_name(name, shift)] = name
            else:
                xs.setdefault(_local_name(name, shift),
                              (_local_name(name, shift), name, along[0], shift))
            index = list(atom.indices)
            index[along[0]] = var
            renamed[atom] = sp.IndexedBase(_local_name(name, shift))[tuple(index)]
        rhs = rhs.xreplace(renamed)
        if var in rhs.xreplace({a: sp.Dummy() for a in rhs.atoms(sp.Indexed)}).free_symbols:
            return None  # var in a Σ's limits or a Kronecker δ: not one step's slices
        plan.rhs[target] = rhs
    plan.xs = list(xs.values())
    return plan


_VIEW = re.compile(r"A\['(\w+)'\]\[:, (\d+), :\]")


def _closing(code: str, start: int) -> int:
    """The index just after the parenthesis matching the one at ``start``."""
    depth = 0
    for k in range(start, len(code)):
        depth += {"(": 1, ")": -1}.get(code[k], 0)
        if depth == 0:
            return k + 1
    return len(code)


def hoist_step_factors(lines: list[str], members: set[str], name_of) -> tuple[list[str], list[str]]:
    """The steps' elementwise factors that read one array outside the recursion, at the step
    (1 − h_{t+1}² in BPTT), each computed once for every step before the loop: the loop keeps
    only the work that waits on the previous step. ``name_of()`` names a new array. Returns
    (lines before the steps, the steps).

    >>> hoist_step_factors(["A['d'][:, 0, :] = ((1.0 - A['h'][:, 1, :] ** 2) * A['d'][:, 1, :])"],
    ...                    {"d"}, lambda: "_g0")
    (["A['_g0'] = (1.0 - A['h'] ** 2)"], ["A['d'][:, 0, :] = (A['_g0'][:, 1, :] * A['d'][:, 1, :])"])
    """
    before: list[str] = []
    hoisted: dict[str, str] = {}
    out = []
    for line in lines:
        target, _, code = line.partition(" = ")
        k = 0
        while (k := code.find("(", k)) >= 0:
            end = _closing(code, k)
            group = code[k:end]
            views = _VIEW.findall(group)
            rest = _VIEW.sub("", group)
            if (k and (code[k - 1].isalnum() or code[k - 1] == "_")) or len(set(views)) != 1 \
                    or views[0][0] in members or not _ELEMENTWISE.fullmatch(rest) \
                    or not re.search(r"[-+*/]|\w\(", rest):
                k += 1
                continue
            array, step = views[0]
            whole = _VIEW.sub(lambda m: f"A[{m.group(1)!r}]", group)
            if whole not in hoisted:
                hoisted[whole] = name_of()
                before.append(f"A[{hoisted[whole]!r}] = {whole}")
            view = f"A[{hoisted[whole]!r}][:, {step}, :]"
            code = code[:k] + view + code[end:]
            k += len(view)
        out.append(f"{target} = {code}")
    return before, out


class Recurrences:
    """The batched evaluator's recursion groups (a mixin: it writes into the evaluator's lines
    with the evaluator's ``_fit``)."""

    def _grid(self, q: Quantity, fixed: Mapping[sp.Symbol, int]):
        """q's index grid: each index an arange along its own axis, or its ``fixed`` value."""
        grid: dict[sp.Symbol, object] = {}
        for v, (lo, hi) in zip(q.indices, self.ranges[q.name], strict=True):
            if v in fixed:
                grid[v] = fixed[v]
                continue
            shape = [1] * self.n
            shape[self.axes[v] - 1] = hi - lo + 1
            grid[v] = np.arange(lo, hi + 1).reshape(shape)
        return grid

    def _store(self, members: list[tuple[str, Quantity, sp.Expr, bool]]) -> None:
        """Compute target = rhs for each member; a group that refers to itself at a shifted
        index runs step by step along it."""
        names = {m[0] for m in members}
        step = None
        for _target, q, rhs, _b in members:
            step = step or recursion(rhs, names, q)
        if step is None:
            for target, q, rhs, batched in members:
                self.lines.append(f"A[{target!r}] = " +
                                  self._fit(rhs, self._grid(q, {}), q, {}, batched))
            return
        hoisted = {}
        for target, q, rhs, batched in members:  # terms free of the recursion: one line for all t
            terms = sp.Add.make_args(rhs)
            free = [t for t in terms if self.lower and not any(
                a.base.name in names for a in t.atoms(sp.Indexed))]
            if free and len(free) < len(terms):
                hoisted[target] = name = f"_p{len(self._hoisted)}"
                self._hoisted.append(name)
                self.lines.append(f"A[{name!r}] = " +
                                  self._fit(sp.Add(*free), self._grid(q, {}), q, {}, batched))
        members = [(t, q, sp.Add(*(a for a in sp.Add.make_args(rhs) if any(
            i.base.name in names for i in a.atoms(sp.Indexed)))) if t in hoisted else rhs, b)
                   for t, q, rhs, b in members]
        memo, self._memo = self._memo, None
        plan = None
        if self.backend == "jax" and self.lower:
            plan = scan_plan([(t, q, rhs) for t, q, rhs, _ in members], *step)
        if plan is None:
            self._unrolled(members, step, hoisted)
        else:
            self._scan(members, step, hoisted, plan)
        self._memo = memo

    def _unrolled(self, members, step, hoisted: Mapping[str, str]) -> None:
        for target, q, _rhs, batched in members:
            dims = [hi - lo + 1 for lo, hi in self.ranges[q.name]]
            lead = "A['_batch'], " if batched else ""
            self.lines.append(f"A[{target!r}] = zeros(({lead}" +
                              "".join(f"{d}, " for d in dims) + "))")
        var, direction = step
        q0 = members[0][1]
        lo, hi = self.ranges[q0.name][q0.indices.index(var)]
        start = len(self.lines)
        for value in (range(lo, hi + 1) if direction > 0 else range(hi, lo - 1, -1)):
            for target, q, rhs, batched in members:
                fixed = {var: value}
                where = ", ".join([":"] * batched + [f"{value - lo}:{value - lo + 1}"
                                                     if v == var else ":" for v in q.indices])
                # at the first step the previous one is outside the range: zero, and so is
                # every product with it (no gather of a whole array to read zeros)
                rhs = rhs.xreplace({a: sp.S.Zero for a in rhs.atoms(sp.Indexed)
                                    if self._outside(a, var, value)}).replace(
                    lambda e: isinstance(e, sp.Sum) and e.function == 0, lambda e: sp.S.Zero)
                if rhs == 0 and target not in hoisted:
                    continue  # the zeros it starts from
                code = None if rhs == 0 else self._fit(rhs, self._grid(q, fixed), q, fixed,
                                                       batched)
                if target in hoisted:
                    own = f"A[{hoisted[target]!r}][{where}]"
                    code = own if code is None else f"({code} + {own})"
                if self.backend == "jax":  # immutable arrays: a functional update
                    self.lines.append(f"A[{target!r}] = A[{target!r}].at[{where}].set({code})")
                else:
                    self.lines.append(f"A[{target!r}][{where}] = {code}")
        self._hoist_parameters(start)
        if self.backend == "numpy":
            width = {name: hi - lo + 1 for name in (*self.ranges, *(t for t, *_ in members))
                     if len(r := self.ranges[name[6:] if name.startswith("delta_") else name])
                     == 2 and self._is_batched(name) for lo, hi in r[1:]}
            width.update({p: width[t] for t, p in hoisted.items() if t in width})
            self.lines[start:] = [on_step_views(line, width) for line in self.lines[start:]]
            before, steps = hoist_step_factors(self.lines[start:], {t for t, *_ in members},
                                               self._new_array)
            self.lines[start:] = before + steps

    def _new_array(self) -> str:
        name = f"_g{len(self._hoisted)}"
        self._hoisted.append(name)
        return name

    def _hoist_parameters(self, start: int) -> None:
        """A parameter's matrix as every step reads it (W reshaped, transposed) computed once,
        before the steps: T steps each paid its two or three dispatches."""
        names = "|".join(re.escape(q.name) for q in self.qs.values() if q.kind == "parameter")
        if not names:
            return
        read = re.compile(rf"(?:perm\(A\['(?:{names})'\], \([\d, ]+\)\)|A\['(?:{names})'\])"
                          r"\.reshape\(\([\d, ]+\)\)(?:\.mT)?")
        found: dict[str, str] = {}
        for line in self.lines[start:]:
            for code in (m.group(0) for m in read.finditer(line)):
                if code not in found:
                    found[code] = f"A[{f'_w{len(self._hoisted)}'!r}]"
                    self._hoisted.append(found[code])
        steps = self.lines[start:]
        for code in sorted(found, key=len, reverse=True):
            steps = [line.replace(code, found[code]) for line in steps]
        self.lines[start:] = [f"{name} = {code}" for code, name in found.items()] + steps

    def _outside(self, atom: sp.Indexed, var: sp.Symbol, value: int) -> bool:
        """True if ``atom`` at ``var`` = ``value`` reads outside its array on some axis."""
        name = atom.base.name
        ranges = self.ranges.get(name[6:] if name.startswith("delta_") else name)
        if ranges is None:
            return False
        for e, (lo, hi) in zip(atom.indices, ranges, strict=True):
            at = e if isinstance(e, int) else as_basic(e).xreplace(self.subs).xreplace({var: value})
            if isinstance(at, int | sp.Integer) and not lo <= int(at) <= hi:
                return True
        return False

    def _scan(self, members, step, hoisted: Mapping[str, str], plan: ScanPlan) -> None:
        """One step as a function, run by the namespace's ``scan`` along ``var``: every array
        the step reads along ``var`` is, inside it, that array's slice at the step (a length-1
        axis), so the step's code is the unrolled code of one step, at its first index."""
        var, direction = step
        q0 = members[0][1]
        lo, hi = self.ranges[q0.name][q0.indices.index(var)]
        base = {t: t[6:] if t.startswith("delta_") else t for t, *_ in members}
        saved_qs, saved_ranges = dict(self.qs), dict(self.ranges)

        def local(name: str, of: str, position: int) -> int:
            """Register step-local ``name`` (an array like ``of``, one entry along var) and
            return the axis var runs along in ``of``'s stored array."""
            key, of_key = (n[6:] if n.startswith("delta_") else n for n in (name, of))
            ranges = list(saved_ranges[of_key])
            ranges[position] = (lo, lo)
            self.ranges[key] = ranges
            self.qs.setdefault(key, saved_qs[of_key])
            return position + self._is_batched(of)

        carry_init = []
        for name, member in plan.carry.items():
            q = next(q for t, q, *_ in members if t == member)
            local(name, member, q.indices.index(var))
            dims = [1 if v == var else hi_ - lo_ + 1
                    for v, (lo_, hi_) in zip(q.indices, saved_ranges[q.name], strict=True)]
            lead = "A['_batch'], " if self._is_batched(member) else ""
            carry_init.append(f"{name!r}: zeros(({lead}" + "".join(f"{d}, " for d in dims) + "))")
        xs = [f"{name!r}: scan_in(A[{of!r}], {local(name, of, position)}, {shift})"
              for name, of, position, shift in plan.xs]
        for target, q, *_ in members:
            local(target, target, q.indices.index(var))
        for target, q, _rhs, batched in members:
            if target in hoisted:  # stored as the member is
                xs.append(f"{hoisted[target]!r}: scan_in(A[{hoisted[target]!r}], "
                          f"{q.indices.index(var) + batched}, 0)")
        number = sum(line.startswith("def _step") for line in self.lines)
        fixed = {var: lo}
        body = []
        for target, q, _rhs, batched in members:
            code = self._fit(plan.rhs[target], self._grid(q, fixed), q, fixed, batched)
            if target in hoisted:
                code = f"({code} + A[{hoisted[target]!r}])"
            body.append(f"    A[{target!r}] = {code}")
        self.qs.clear()
        self.qs.update(saved_qs)
        self.ranges.clear()
        self.ranges.update(saved_ranges)
        carried = ", ".join(f"{name!r}: A[{member!r}]" for name, member in plan.carry.items())
        out = ", ".join(f"{t!r}: A[{t!r}]" for t in base)
        # each output is written along var's axis of its own stored array (jax_scan.py)
        axes = ", ".join(f"{t!r}: {q.indices.index(var) + self._is_batched(t)}"
                         for t, q, *_ in members)
        self.lines += [f"def _step{number}(C, X, A=A):", "    A = {**A, **X, **C}", *body,
                       f"    return {{{carried}}}, {{{out}}}",
                       f"C, Y = scan(_step{number}, {{{', '.join(carry_init)}}}, "
                       f"{{{', '.join(xs)}}}, {hi - lo + 1}, {direction}, {{{axes}}})"]
        for target, *_ in members:
            self.lines.append(f"A[{target!r}] = Y[{target!r}]")
