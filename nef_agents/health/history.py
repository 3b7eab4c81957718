"""A fixed-capacity window of the most recent iterates.

Contract: arrays returned by the properties are copies, so later appends never
change them. The Gram matrix of the steps is kept up to date as points arrive,
O(capacity * d) per append, so the diversity and step-cosine metrics never
need the O(T^2 d) product.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from nef_agents.errors import ConfigError


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
        self._n = 0
        self._dim: int | None = None
        self._m: int | None = None
        self._loss = np.empty(self.capacity)
        self._pts = np.empty((0, 0))
        self._grads = np.empty((0, 0))
        self._has_grad = np.zeros(self.capacity, dtype=bool)
        self._grads_seen = False
        self._terms = np.empty((0, 0))
        self._has_terms = np.zeros(self.capacity, dtype=bool)
        self._steps = np.empty((0, 0))
        self._gram = np.zeros((self.capacity - 1, self.capacity - 1))

    def __len__(self) -> int:
        return self._n

    @property
    def dim(self) -> int | None:
        """Dimension d of the stored points; None while empty."""
        return self._dim

    def append(
        self,
        loss: float,
        x: ArrayLike,
        grad: ArrayLike | None = None,
        terms: ArrayLike | None = None,
    ) -> None:
        """Add one iterate; the oldest drops out once ``capacity`` rows are held."""
        xv = np.asarray(x, dtype=float).ravel()
        if self._dim is None:
            self._allocate(xv.size)
        elif xv.size != self._dim:
            raise ConfigError(
                f"`x` must have {self._dim} entries like the window's points, got {xv.size}"
            )
        gv = None if grad is None else np.asarray(grad, dtype=float).ravel()
        if gv is not None and gv.size != xv.size:
            raise ConfigError(f"`grad` must have {xv.size} entries like `x`, got {gv.size}")
        tv = None if terms is None else np.asarray(terms, dtype=float).ravel()
        if tv is not None:
            if self._m is None:
                self._m = tv.size
                self._terms = np.zeros((self.capacity, tv.size))
            elif tv.size != self._m:
                raise ConfigError(f"`terms` must have {self._m} entries as before, got {tv.size}")
        if self._n == self.capacity:
            self._shift()
        i = self._n
        if i > 0:
            self._add_step(xv - self._pts[i - 1])
        self._loss[i] = float(loss)
        self._pts[i] = xv
        self._has_grad[i] = gv is not None
        if gv is not None:
            self._grads[i] = gv
            self._grads_seen = True
        self._has_terms[i] = tv is not None
        if tv is not None:
            self._terms[i] = tv
        self._n = i + 1

    def _allocate(self, d: int) -> None:
        self._dim = d
        self._pts = np.empty((self.capacity, d))
        self._grads = np.zeros((self.capacity, d))
        self._steps = np.empty((self.capacity - 1, d))

    def _shift(self) -> None:
        # Overlapping slice assignment is safe in numpy (it buffers); O(capacity * d).
        self._loss[:-1] = self._loss[1:]
        self._pts[:-1] = self._pts[1:]
        if self._grads_seen:
            self._grads[:-1] = self._grads[1:]
            self._has_grad[:-1] = self._has_grad[1:]
        if self._m is not None:
            self._terms[:-1] = self._terms[1:]
            self._has_terms[:-1] = self._has_terms[1:]
        self._steps[:-1] = self._steps[1:]
        self._gram[:-1, :-1] = self._gram[1:, 1:]
        self._n -= 1

    def _add_step(self, s: np.ndarray) -> None:
        k = self._n - 1  # steps held before this one
        dots = self._steps[:k] @ s
        self._steps[k] = s
        self._gram[k, :k] = dots
        self._gram[:k, k] = dots
        self._gram[k, k] = s @ s

    def views(
        self,
    ) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None
    ]:
        """(losses, points, steps, step_gram, grads, terms) as views, not copies.

        Valid only until the next append or clear: for a caller that reads them
        at once (the monitor), saving five copies per iteration.
        """
        n, k = self._n, max(self._n - 1, 0)
        grads = self._grads[:n] if n and self._has_grad[:n].all() else None
        terms = self._terms[:n] if n and self._m is not None and self._has_terms[:n].all() else None
        pts = self._pts[:n] if n else np.zeros((0, self._dim or 0))
        return self._loss[:n], pts, self._steps[:k], self._gram[:k, :k], grads, terms

    @property
    def losses(self) -> np.ndarray:
        """Losses, shape (n,)."""
        return self._loss[: self._n].copy()

    @property
    def points(self) -> np.ndarray:
        """Points, shape (n, d); (0, 0) while empty."""
        return self._pts[: self._n].copy()

    @property
    def steps(self) -> np.ndarray:
        """Differences of consecutive points, shape (max(n - 1, 0), d)."""
        return self._steps[: max(self._n - 1, 0)].copy()

    @property
    def step_gram(self) -> np.ndarray:
        """``steps @ steps.T``, shape (n - 1, n - 1), maintained incrementally."""
        k = max(self._n - 1, 0)
        return self._gram[:k, :k].copy()

    @property
    def grads(self) -> np.ndarray | None:
        """Gradients (n, d) if every stored row has one, else None."""
        if self._n == 0 or not self._has_grad[: self._n].all():
            return None
        return self._grads[: self._n].copy()

    @property
    def terms(self) -> np.ndarray | None:
        """Per-term values (n, m) if every stored row has them, else None."""
        if self._n == 0 or self._m is None or not self._has_terms[: self._n].all():
            return None
        return self._terms[: self._n].copy()
