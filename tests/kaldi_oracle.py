"""Real Kaldi for the tests: built once per machine from ../shared/kaldi-oracle.

`back_end()` gives the out-dir of `build.sh` (Kaldi's back-end binaries in `bin/` and a
KALDI_ROOT-shaped tree in `kaldi-root/`); `extraction()` adds `build-extraction.sh` (MFCC,
VAD, nnet3 x-vector tools and Kaldi's steps/utils/sid scripts). Both scripts are idempotent
and only rebuild what is out of date, so a second call costs a second. A file lock keeps
two pytest processes (or a test and a benchmark) from building into the same dir at once.

Where the build cannot run (no ../shared, no compiler and no root for apt-get), the calling
test is skipped with the reason and the build log's path; nothing else in the suite depends
on Kaldi. The out-dir is $VV_KALDI_ORACLE, default /tmp/kaldi-oracle (outside the checkout,
so every clone on the machine shares one build).
"""
import fcntl
import os
import subprocess

import pytest

from helpers import SHARED

ORACLE_SRC = os.path.join(SHARED, 'kaldi-oracle')
OUT_DIR = os.environ.get('VV_KALDI_ORACLE', '/tmp/kaldi-oracle')
_built = {}


def _build(script, marker):
    """Run one of the shared build scripts under a lock; skip the test if it cannot run."""
    if script in _built:
        return _built[script]
    src = os.path.join(ORACLE_SRC, script)
    if not os.path.isfile(src):
        pytest.skip('real Kaldi not available: %s not found (the Kaldi oracle lives in '
                    '../shared beside the checkout)' % src)
    os.makedirs(OUT_DIR, exist_ok=True)
    log = os.path.join(OUT_DIR, script.replace('.sh', '.log'))
    with open(os.path.join(OUT_DIR, '.build.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(log, 'w') as out:
                rc = subprocess.call(['bash', src, OUT_DIR], stdout=out, stderr=subprocess.STDOUT)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if rc != 0 or not os.path.exists(os.path.join(OUT_DIR, marker)):
        with open(log) as f:
            tail = f.read().strip().splitlines()[-1:] or ['(empty log)']
        pytest.skip('real Kaldi could not be built with %s (rc %d; see %s): %s'
                    % (src, rc, log, tail[0]))
    _built[script] = OUT_DIR
    return OUT_DIR


def back_end():
    """Out-dir with Kaldi's back-end binaries (bin/) and kaldi-root/; builds on first use."""
    return _build('build.sh', os.path.join('bin', 'ivector-plda-scoring'))


def extraction():
    """As back_end(), plus Kaldi's feature and nnet3 x-vector tools and scripts."""
    back_end()
    return _build('build-extraction.sh', os.path.join('bin', 'nnet3-xvector-compute'))


def kaldi_root():
    """KALDI_ROOT for the recipes' path.sh (back-end tools only)."""
    return os.path.join(back_end(), 'kaldi-root')


def binary(name):
    """Path of one of Kaldi's back-end binaries."""
    return os.path.join(back_end(), 'bin', name)
