"""Evaluation: shape-set metrics (MMD, COV, 1-NNA), the linear-SVM protocol on D features, ablation suites."""
