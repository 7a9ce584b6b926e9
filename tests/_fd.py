"""Central finite differences, the independent reference of the derivative tests."""


def central_difference(f, x, dx, eps=1e-6):
    """``(f(x + eps dx) - f(x - eps dx)) / (2 eps)``: the directional derivative of ``f``
    at ``x`` along ``dx``, to ``O(eps^2)``."""
    return (f(x + eps * dx) - f(x - eps * dx)) / (2 * eps)
