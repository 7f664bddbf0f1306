"""A tiny batch for GPU-twin tests under the CUDA simulator (every GPU thread is a Python
thread there, so inputs stay small)."""

import numpy as np


def tiny_batch(n_classes=2, n_trials=14, n_features=3, seed=0):
    """2 cells x 2 label sets x 3 slots (unequal sizes, -1 padding); cell 0 carries the class.

    Returns
    -------
    X : ndarray of float32, shape (2, n_trials, n_features)
    Y : ndarray of int32, shape (2, n_trials)
        Observed labels, then one permutation of them.
    train_idx, n_train, test_idx, n_test
        Slots of 10, 11 and 9 training and 4, 3 and 2 test trials, -1 padded.
    """
    rng = np.random.default_rng(seed)
    y = (np.arange(n_trials) % n_classes).astype(np.int32)
    X = rng.normal(size=(2, n_trials, n_features))
    X[0] += 1.5 * y[:, None]
    Y = np.stack([y, rng.permutation(y)]).astype(np.int32)
    n_train = np.array([10, 11, 9], dtype=np.int32)
    n_test = np.array([4, 3, 2], dtype=np.int32)
    train_idx = np.full((3, 11), -1, dtype=np.int32)
    test_idx = np.full((3, 4), -1, dtype=np.int32)
    for s in range(3):
        p = rng.permutation(n_trials)
        train_idx[s, :n_train[s]] = p[:n_train[s]]
        test_idx[s, :n_test[s]] = p[n_train[s]:n_train[s] + n_test[s]]
    return X.astype(np.float32), Y, train_idx, n_train, test_idx, n_test
