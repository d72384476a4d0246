"""Real Kaldi for the tests: built once per machine from ../shared/kaldi-oracle.

`back_end()` gives the out-dir of `build.sh` (Kaldi's back-end binaries in `bin/` and a
KALDI_ROOT-shaped tree in `kaldi-root/`); `extraction()` adds `build-extraction.sh` (MFCC,
VAD, nnet3 x-vector tools and Kaldi's steps/utils/sid scripts). A finished build leaves a
stamp (the build script's and its source tarball's checksums) and is not run again while
they are unchanged: build.sh re-lays kaldi-root/egs/wsj on every run, which would take away
the scripts build-extraction.sh added while another process is using them. A file lock
keeps two pytest processes (or a test and a benchmark) from building at once.

Where the build cannot run (no ../shared, no compiler and no root for apt-get), the calling
test is skipped with the reason and the build log's path; nothing else in the suite depends
on Kaldi. The out-dir is $VV_KALDI_ORACLE, default /tmp/kaldi-oracle (outside the checkout,
so every clone on the machine shares one build).
"""
import fcntl
import glob
import hashlib
import os
import subprocess

import pytest

from helpers import SHARED

ORACLE_SRC = os.path.join(SHARED, 'kaldi-oracle')
OUT_DIR = os.environ.get('VV_KALDI_ORACLE', '/tmp/kaldi-oracle')
_built = {}


def _build(script, markers):
    """Run one of the shared build scripts under a lock; skip the test if it cannot run.

    markers: paths under the out-dir that a finished build leaves; any of them missing
    (say, another checkout's older helper re-ran build.sh) means build again.
    """
    if script in _built:
        return _built[script]
    src = os.path.join(ORACLE_SRC, script)
    if not os.path.isfile(src):
        pytest.skip('real Kaldi not available: %s not found (the Kaldi oracle lives in '
                    '../shared beside the checkout)' % src)
    os.makedirs(OUT_DIR, exist_ok=True)
    log = os.path.join(OUT_DIR, script.replace('.sh', '.log'))
    stamp_path = os.path.join(OUT_DIR, '.built-' + script)
    stamp = _source_stamp(src)
    rc = 0
    with open(os.path.join(OUT_DIR, '.build.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _read(stamp_path) != stamp or not _all_exist(markers):
                # A rebuild of the back-end re-lays kaldi-root: the extraction layer on top
                # of it must be laid again too.
                for old in glob.glob(os.path.join(OUT_DIR, '.built-*')):
                    if script == 'build.sh' or old == stamp_path:
                        os.remove(old)
                with open(log, 'w') as out:
                    rc = subprocess.call(['bash', src, OUT_DIR], stdout=out,
                                         stderr=subprocess.STDOUT)
                if rc == 0:
                    with open(stamp_path, 'w') as f:
                        f.write(stamp)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if rc != 0 or not _all_exist(markers):
        with open(log) as f:
            tail = f.read().strip().splitlines()[-1:] or ['(empty log)']
        pytest.skip('real Kaldi could not be built with %s (rc %d; see %s): %s'
                    % (src, rc, log, tail[0]))
    _built[script] = OUT_DIR
    return OUT_DIR


def _source_stamp(script_path):
    """Checksums of a build script and the Kaldi source tarballs beside it."""
    digest = hashlib.sha1()
    for path in [script_path] + sorted(glob.glob(os.path.join(ORACLE_SRC, '*.tgz'))):
        digest.update(path.encode())
        digest.update(str(os.path.getsize(path)).encode())
        with open(path, 'rb') as f:
            digest.update(f.read(1 << 20))      # the tarballs' heads name their contents
    return digest.hexdigest()


def _all_exist(markers):
    return all(os.path.exists(os.path.join(OUT_DIR, m)) for m in markers)


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def back_end():
    """Out-dir with Kaldi's back-end binaries (bin/) and kaldi-root/; builds on first use."""
    return _build('build.sh', ['bin/ivector-plda-scoring', 'kaldi-root/egs/wsj/s5/utils/run.pl'])


def extraction():
    """As back_end(), plus Kaldi's feature and nnet3 x-vector tools and scripts."""
    back_end()
    return _build('build-extraction.sh', ['bin/nnet3-xvector-compute',
                                          'kaldi-root/egs/wsj/s5/steps/make_mfcc.sh',
                                          'kaldi-root/egs/sre08/v1/sid/compute_vad_decision.sh'])


def kaldi_root():
    """KALDI_ROOT for the recipes' path.sh (back-end tools only)."""
    return os.path.join(back_end(), 'kaldi-root')


def binary(name):
    """Path of one of Kaldi's back-end binaries."""
    return os.path.join(back_end(), 'bin', name)
