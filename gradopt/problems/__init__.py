"""Ready-made problems (the lasso family) with duality-gap certificates."""

from gradopt.problems._result import SparseResult
from gradopt.problems.glm import glm, glm_alpha_max
from gradopt.problems.group import group_lasso, group_lasso_alpha_max
from gradopt.problems.lasso import (
    LassoPath,
    elastic_net,
    elastic_net_duality_gap,
    lasso,
    lasso_alpha_max,
    lasso_batch,
    lasso_duality_gap,
    lasso_path,
)
from gradopt.problems.logistic import sparse_logistic, sparse_logistic_alpha_max
from gradopt.problems.presets import (
    GLMPath,
    glm_path,
    huber_regression,
    multitask_lasso,
    poisson_regression,
)

__all__ = [
    "GLMPath",
    "glm_path",
    "huber_regression",
    "multitask_lasso",
    "poisson_regression",
    "LassoPath",
    "SparseResult",
    "elastic_net",
    "glm",
    "glm_alpha_max",
    "elastic_net_duality_gap",
    "lasso",
    "lasso_alpha_max",
    "lasso_batch",
    "lasso_duality_gap",
    "lasso_path",
    "group_lasso",
    "group_lasso_alpha_max",
    "sparse_logistic",
    "sparse_logistic_alpha_max",
]
