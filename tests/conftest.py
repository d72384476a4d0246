"""Test-wide setup: the repository root and local/ are importable, as path.sh makes them."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, 'local')):
    if path not in sys.path:
        sys.path.insert(0, path)


def pytest_report_header(config):
    """Which Kaldi the real-Kaldi tests compare with (tests/kaldi_oracle.py)."""
    import kaldi_oracle
    return 'real Kaldi for the comparisons: ' + kaldi_oracle.describe()


def pytest_configure(config):
    # Deselect with  -m 'not slurm'  (the suite runs them by default).
    config.addinivalue_line('markers', 'slurm: starts a one-node Slurm (installs slurm-wlm and munge '
                            'with apt-get where missing) and runs the recipes through slurm.pl')
