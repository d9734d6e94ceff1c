"""The heart-disease model: features, data loading, the NumPy network, the artifact.

`from model import NeuralNet` works, but the estimator (which needs
scikit-learn) is imported lazily, so that the serving path
(`model.artifact`, `model.serving`) never imports scikit-learn or pandas.
"""

from typing import Any

from model.features import FEATURE_NAMES, FEATURES

__all__ = ["FEATURES", "FEATURE_NAMES", "NeuralNet"]


def __getattr__(name: str) -> Any:
    if name == "NeuralNet":
        from model.network import NeuralNet

        return NeuralNet
    raise AttributeError(f"module 'model' has no attribute {name!r}")
