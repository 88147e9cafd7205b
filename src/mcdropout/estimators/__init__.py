"""scikit-learn estimators over mcdropout's batched training and MC path (docs/estimators.md)."""

from mcdropout.estimators.scikit_learn import MCDropoutClassifier, MCDropoutRegressor

__all__ = ["MCDropoutClassifier", "MCDropoutRegressor"]
