"""The recipe's analysis scripts: results table, Gaussianity, DET plots, AS-norm, k-fold split."""
