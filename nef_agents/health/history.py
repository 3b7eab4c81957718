"""A fixed-capacity window of the most recent iterates.

Contract: arrays returned by the properties are copies, so later appends never
change them. Rows live in preallocated ring buffers (no shifting): an append
is O(capacity * d) for the step Gram row, O(d) otherwise. Next to the arrays
the window keeps, as Python floats in window order, what the monitor reads on
every iteration: the losses and their consecutive differences, the squared
norms of steps and gradients, and the cosines of consecutive steps and
gradients (each computed once, when its second vector arrives). The step Gram
matrix ``S S^T`` is kept in ring order (row/column of a step = its slot), so
the diversity and step-cosine metrics never need the O(T^2 d) product.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from numpy.typing import ArrayLike

from nef_agents.errors import ConfigError

_COS_TOL = 1e-12  # as metrics._COS_TOL: orthogonal steps (cos ~ +-1e-17) are no reversal


def _pair_cos(dot: float, na: float, nb: float) -> float | None:
    """Clipped cosine of two vectors from their dot and norms; None when one norm is 0."""
    if na > 0.0 and nb > 0.0:
        c = dot / (na * nb)
        return 1.0 if c > 1.0 else -1.0 if c < -1.0 else c
    return None


class History:
    """The last ``capacity`` (loss, x, grad, terms) rows, oldest first.

    ``grads`` / ``terms`` are None unless every stored row has one. ``x``
    must keep its dimension and ``terms`` its length: a change raises
    ConfigError (call :meth:`clear` first when the problem changes).
    """

    def __init__(self, capacity: int = 20) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 2:
            raise ConfigError(f"`capacity` must be an integer >= 2, got {capacity!r}")
        self.capacity = capacity
        self.clear()

    def clear(self) -> None:
        """Forget every row (dimension and term count are free to change after)."""
        cap = self.capacity
        self._n = 0
        self._count = 0  # rows appended since the last clear (absolute index of the next row)
        self._dim: int | None = None
        self._m: int | None = None
        self._pts = np.empty((0, 0))
        self._grads = np.empty((0, 0))
        self._terms = np.empty((0, 0))
        self._dterms = np.empty((0, 0))  # term differences, one per step slot
        self._steps = np.empty((0, 0))
        self._gram = np.zeros((cap - 1, cap - 1))  # ring order: [slot_i, slot_j]
        self._prev_x: np.ndarray | None = None
        self._prev_g: np.ndarray | None = None
        self._prev_t: np.ndarray | None = None
        # Window-ordered Python mirrors (oldest first).
        self.loss_q: deque[float] = deque(maxlen=cap)
        self.dloss_q: deque[float] = deque(maxlen=cap - 1)  # L_{t+1} - L_t
        self.ssq_q: deque[float] = deque(maxlen=cap - 1)  # |S_t|^2
        self.snorm_q: deque[float] = deque(maxlen=cap - 1)  # |S_t|
        self.scos_q: deque[float | None] = deque(maxlen=cap - 2)  # cos(S_t, S_{t+1})
        self.spmin_q: deque[float] = deque(maxlen=cap - 2)  # min(|S_t|, |S_{t+1}|)
        self.gsq_q: deque[float | None] = deque(maxlen=cap)  # |G_t|^2 (None: no grad)
        self.gnorm_q: deque[float] = deque(maxlen=cap)
        self.gcos_q: deque[float | None] = deque(maxlen=cap - 1)  # cos(G_t, G_{t+1})
        self.gpmin_q: deque[float] = deque(maxlen=cap - 1)
        self._hasg_q: deque[bool] = deque(maxlen=cap)
        self._hast_q: deque[bool] = deque(maxlen=cap)
        self.scos_neg = 0  # entries of scos_q below -_COS_TOL (reversing step pairs)
        self.no_grad = 0  # rows in the window without a gradient
        self.no_terms = 0  # rows in the window without terms
        self._grads_seen = False

    def __len__(self) -> int:
        return self._n

    @property
    def dim(self) -> int | None:
        """Dimension d of the stored points; None while empty."""
        return self._dim

    @property
    def prev_x(self) -> np.ndarray | None:
        """The newest point (a view of the buffer); None while empty."""
        return self._prev_x

    @property
    def m(self) -> int | None:
        """Number of terms per row once a row with terms arrived; None before."""
        return self._m

    def append(
        self,
        loss: float,
        x: ArrayLike,
        grad: ArrayLike | None = None,
        terms: ArrayLike | None = None,
    ) -> None:
        """Add one iterate; the oldest drops out once ``capacity`` rows are held."""
        xv = np.asarray(x, dtype=float).ravel()
        gv = None if grad is None else np.asarray(grad, dtype=float).ravel()
        tv = None if terms is None else np.asarray(terms, dtype=float).ravel()
        self.check(xv, gv, tv)
        s = None if self._prev_x is None else xv - self._prev_x
        ss = None if s is None else float(s @ s)
        gsq = None if gv is None else float(gv @ gv)
        self.push(float(loss), xv, s, ss, gv, gsq, tv)

    def check(self, xv: np.ndarray, gv: np.ndarray | None, tv: np.ndarray | None) -> None:
        """Raise ConfigError if a raveled row does not fit the window (nothing changes then)."""
        if self._dim is not None and xv.size != self._dim:
            raise ConfigError(
                f"`x` must have {self._dim} entries like the window's points, got {xv.size}"
            )
        if gv is not None and gv.size != xv.size:
            raise ConfigError(f"`grad` must have {xv.size} entries like `x`, got {gv.size}")
        if tv is not None and self._m is not None and tv.size != self._m:
            raise ConfigError(f"`terms` must have {self._m} entries as before, got {tv.size}")

    def push(
        self,
        loss: float,
        xv: np.ndarray,
        s: np.ndarray | None,
        ss: float | None,
        gv: np.ndarray | None,
        gsq: float | None,
        tv: np.ndarray | None,
    ) -> None:
        """Append a row that passed :meth:`check`: ``s = xv - previous x`` and
        ``ss = s @ s`` (None for the first row), ``gsq = gv @ gv`` (None without grad)."""
        cap = self.capacity
        if self._dim is None:
            self._allocate(xv.size)
        if tv is not None and self._m is None:
            self._m = tv.size
            self._terms = np.zeros((cap, tv.size))
            self._dterms = np.zeros((cap - 1, tv.size))
        c = self._count
        full = self._n == cap
        slot = c % cap
        if full:
            self.no_grad -= not self._hasg_q[0]
            self.no_terms -= not self._hast_q[0]
        # Loss side.
        if self.loss_q:
            self.dloss_q.append(loss - self.loss_q[-1])
        self.loss_q.append(loss)
        # Step side.
        if s is not None:
            k_old = min(c - 1, cap - 1)  # steps in the ring before this one (filled slots)
            j = (c - 1) % (cap - 1)
            steps, gram = self._steps, self._gram
            if k_old > 0:
                # Dots with the steps already held; once the ring is full, entry j is the
                # step this one replaces, so it is overwritten with |s|^2.
                dots = steps[:k_old] @ s
                if j < k_old:
                    dots[j] = ss
                    gram[j, :k_old] = dots
                    gram[:k_old, j] = dots
                else:  # still filling: j == k_old
                    gram[j, :k_old] = dots
                    gram[:k_old, j] = dots
                    gram[j, j] = ss
                prev_dot = float(dots[(c - 2) % (cap - 1)]) if cap > 2 else None
            else:
                gram[j, j] = ss
                prev_dot = None
            steps[j] = s
            sn = math.sqrt(ss) if ss > 0.0 else 0.0
            if prev_dot is not None:
                pn = self.snorm_q[-1]
                cq = self.scos_q
                if len(cq) == cq.maxlen:
                    old = cq[0]
                    self.scos_neg -= old is not None and old < -_COS_TOL
                cs = _pair_cos(prev_dot, pn, sn)
                self.scos_neg += cs is not None and cs < -_COS_TOL
                cq.append(cs)
                self.spmin_q.append(pn if pn < sn else sn)
            self.ssq_q.append(ss)
            self.snorm_q.append(sn)
            if tv is not None and self._prev_t is not None:
                self._dterms[j] = tv - self._prev_t
        # Gradient side.
        if gv is not None:
            gn = math.sqrt(gsq) if gsq > 0.0 else 0.0
            self._grads[slot] = gv
            self._grads_seen = True
        else:
            gn = 0.0
        if self._n:
            pg = self._prev_g
            if gv is not None and pg is not None:
                pn = self.gnorm_q[-1]
                self.gcos_q.append(_pair_cos(float(gv @ pg), pn, gn))
                self.gpmin_q.append(pn if pn < gn else gn)
            else:
                self.gcos_q.append(None)
                self.gpmin_q.append(0.0)
        self.gsq_q.append(gsq)
        self.gnorm_q.append(gn)
        self._hasg_q.append(gv is not None)
        self.no_grad += gv is None
        # Terms.
        if tv is not None:
            self._terms[slot] = tv
            self._prev_t = self._terms[slot]
        else:
            self._prev_t = None
        self._hast_q.append(tv is not None)
        self.no_terms += tv is None
        self._pts[slot] = xv
        self._prev_x = self._pts[slot]
        self._prev_g = None if gv is None else self._grads[slot]
        self._count = c + 1
        if not full:
            self._n += 1

    def _allocate(self, d: int) -> None:
        self._dim = d
        self._pts = np.empty((self.capacity, d))
        self._grads = np.zeros((self.capacity, d))
        self._steps = np.empty((self.capacity - 1, d))

    # --- ring-order access (for the monitor: order-free reductions) ---------------------

    def ring_steps(self) -> np.ndarray:
        """The window's steps in ring order (a view), shape (n - 1, d)."""
        return self._steps[: max(self._n - 1, 0)]

    def ring_gram(self) -> np.ndarray:
        """The steps' Gram matrix in ring order (a view), shape (n - 1, n - 1)."""
        k = max(self._n - 1, 0)
        return self._gram[:k, :k]

    def ring_grads(self) -> np.ndarray:
        """The window's gradient rows in ring order (a view); meaningful if ``no_grad == 0``."""
        return self._grads[: self._n]

    def ring_dterms(self) -> np.ndarray:
        """The window's term differences in ring order (a view); meaningful if ``no_terms == 0``."""
        return self._dterms[: max(self._n - 1, 0)]

    # --- window order ----------------------------------------------------------------------

    def _order(self) -> list[int]:
        """Slots of the window's rows, oldest first."""
        cap, c, n = self.capacity, self._count, self._n
        return [a % cap for a in range(c - n, c)]

    def _step_order(self) -> list[int]:
        cap, c, k = self.capacity, self._count, max(self._n - 1, 0)
        return [a % (cap - 1) for a in range(c - 1 - k, c - 1)]

    def views(
        self,
    ) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None
    ]:
        """(losses, points, steps, step_gram, grads, terms) in window order.

        Arrays may be views of the buffers: valid only until the next append or clear.
        """
        return self.losses, self.points, self.steps, self.step_gram, self.grads, self.terms

    @property
    def losses(self) -> np.ndarray:
        """Losses, shape (n,)."""
        return np.array(self.loss_q, dtype=float)

    @property
    def points(self) -> np.ndarray:
        """Points, shape (n, d); (0, 0) while empty."""
        if not self._n:
            return np.zeros((0, self._dim or 0))
        return self._pts[self._order()]

    @property
    def steps(self) -> np.ndarray:
        """Differences of consecutive points, shape (max(n - 1, 0), d)."""
        if self._n < 2:
            return self._steps[:0].copy() if self._dim is not None else np.empty((0, 0))
        return self._steps[self._step_order()]

    @property
    def step_gram(self) -> np.ndarray:
        """``steps @ steps.T``, shape (n - 1, n - 1), maintained incrementally."""
        o = self._step_order()
        return self._gram[np.ix_(o, o)]

    @property
    def grads(self) -> np.ndarray | None:
        """Gradients (n, d) if every stored row has one, else None."""
        if self._n == 0 or self.no_grad:
            return None
        return self._grads[self._order()]

    @property
    def terms(self) -> np.ndarray | None:
        """Per-term values (n, m) if every stored row has them, else None."""
        if self._n == 0 or self._m is None or self.no_terms:
            return None
        return self._terms[self._order()]
