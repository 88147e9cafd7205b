"""The uncertainty methods the trust study compares, one module each (:mod:`.base`), in the order below.

Adding a method: a module here with ``NAME`` and ``build(ctx) -> Method | None``, and one line in ``METHODS``; it
then appears in trust.json, the report's table and figures, dvc metrics and MLflow. Code outside the package
(a user's, a test's) calls :func:`register`.
"""

from mcdropout.study.methods import concrete, deep_ensemble, mc_dropout, mc_dropout_ensemble, standard
from mcdropout.study.methods.base import REGISTRY, Context, Method, build_methods, register

METHODS = (standard, mc_dropout, deep_ensemble, mc_dropout_ensemble, concrete)
for _method in METHODS:
    register(_method.NAME, _method.build)

__all__ = ["REGISTRY", "Context", "Method", "build_methods", "register"]
