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


# The modules that take minutes (the recipes end to end, on Kaldi, on Slurm, fault injection),
# longest first, then the rest in their usual order: tests/run.sh's workers take whole modules
# in this order (--no-loadscope-reorder), so a long one is never the last to start.
SLOW_MODULES_FIRST = ['test_recipes_kaldi.py', 'test_recipes_e2e.py', 'test_slurm.py',
                      'test_fault_injection.py', 'test_extraction_kaldi.py', 'test_data_identity.py',
                      'test_dnf_stability.py', 'test_runners.py', 'test_failed_models.py',
                      'test_recovery.py', 'test_model.py']


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOW_MODULES_FIRST)}
    items.sort(key=lambda item: rank.get(os.path.basename(str(item.fspath)), len(rank)))
