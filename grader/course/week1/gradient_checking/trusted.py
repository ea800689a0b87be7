"""Trusted ``week1/gradient_checking`` helpers (bound by ``Case.replace``; see :mod:`grader.spec`).

``gradient_check(x, theta, epsilon)`` calls the file's ``forward_propagation`` and
``backward_propagation``. The grader binds these instead, so the 1-D check is judged on its
own code (a wrong ``backward_propagation`` costs only its own part), and, with the cubic pair,
on a *nonlinear* ``J`` where a one-sided difference is visibly less accurate than the two-sided
one (for the linear ``J = theta * x`` both are exact up to rounding).

The cubic pair multiplies left to right (no ``**``), so the parent can replay the float32
arithmetic exactly with NumPy.
"""

from __future__ import annotations


def forward_linear(x, theta):
    """The course's J = theta * x."""
    return theta * x


def backward_linear(x, theta):
    """dJ/dtheta of theta * x."""
    return x


def forward_cubic(x, theta):
    """J = x * theta**3."""
    return x * theta * theta * theta


def backward_cubic(x, theta):
    """dJ/dtheta = 3 * x * theta**2."""
    return 3.0 * x * theta * theta
