"""Build the scikit-learn pipeline that every contender serves, in the Python
environment that will load it (so the pickle matches its scikit-learn).

    python build_pipeline.py WEIGHTS.npz OUT.joblib

StandardScaler + MLPClassifier(hidden_layer_sizes=(8,)), both carrying this
service's fitted scaler and trained weights: every server computes the very
same probabilities, so each answer can be checked for correctness.
Stand-alone on purpose: it runs in the MLServer and BentoML environments.
"""

import sys

import joblib
import numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def build(weights_path: str, out_path: str) -> None:
    w = np.load(weights_path)
    d, h = w["W1"].shape
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, d)), np.tile([0, 1], 10)
    scaler = StandardScaler().fit(X)
    scaler.mean_, scaler.scale_, scaler.var_ = w["mean"], w["scale"], w["scale"] ** 2
    net = MLPClassifier(hidden_layer_sizes=(h,), max_iter=1).fit(scaler.transform(X), y)
    net.coefs_ = [w["W1"], w["W2"]]
    net.intercepts_ = [w["b1"], w["b2"]]
    joblib.dump(make_pipeline(scaler, net), out_path)


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")  # max_iter=1 does not converge: the weights are replaced
    build(sys.argv[1], sys.argv[2])
