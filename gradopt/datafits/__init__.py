"""Datafits: the smooth term ``F(Xw)`` of a generalized linear model (see ``base``)."""

from gradopt.datafits.base import Datafit, datafit_class
from gradopt.datafits.huber import Huber, huber
from gradopt.datafits.logistic import Logistic, logistic
from gradopt.datafits.poisson import Poisson, poisson
from gradopt.datafits.quadratic import Quadratic, quadratic

__all__ = [
    "Datafit",
    "Huber",
    "Logistic",
    "Poisson",
    "Quadratic",
    "datafit_class",
    "huber",
    "logistic",
    "poisson",
    "quadratic",
]
