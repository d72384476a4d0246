"""Real Kaldi for the tests: the user's own compiled Kaldi, or one built from ../shared.

Which Kaldi the real-Kaldi tests compare with (test_kaldi_parity, test_recipes_kaldi,
test_extraction_kaldi, test_runners), chosen once, when the tests are collected:

1. VV_TEST_KALDI_ROOT, else KALDI_ROOT, when set: a compiled Kaldi checkout. Its binaries
   are found in src/{bin,ivectorbin,featbin,nnet3bin} and its scripts in egs/wsj/s5 and
   egs/sre08/v1, as path.sh finds them; nothing is built. A tree that lacks a file a test
   needs (BACK_END or EXTRACTION below) skips that test with a line naming the file and
   the variable, rather than testing against a Kaldi the user did not choose.
2. Otherwise the fallback: Kaldi built once per machine from ../shared/kaldi-oracle.
   `build.sh` makes the back-end binaries and a KALDI_ROOT-shaped tree (kaldi-root/),
   `build-extraction.sh` adds the MFCC, VAD and nnet3 x-vector tools and Kaldi's
   steps/utils/sid scripts. A finished build leaves a stamp (the build script's and its
   source tarball's checksums) and is not run again while they are unchanged: build.sh
   re-lays kaldi-root/egs/wsj on every run, which would take away the scripts
   build-extraction.sh added while another process is using them. A file lock keeps two
   pytest processes (or a test and a benchmark) from building at once. The out-dir is
   $VV_KALDI_ORACLE, default /tmp/kaldi-oracle (outside the checkout, so every clone on
   the machine shares one build). Where the build cannot run (no ../shared, no compiler),
   the calling test is skipped with the reason and the build log's path.

`describe()` says which was chosen (pytest prints it in its header, see conftest.py).
"""
import fcntl
import glob
import hashlib
import os
import subprocess

import pytest

from helpers import SHARED

# What the tests run, relative to a Kaldi root: the back-end tools the recipes call and
# the parity tests compare (and Kaldi's minDCF script and job runner) ...
BACK_END = ['src/ivectorbin/' + t for t in (
    'ivector-mean', 'ivector-subtract-global-mean', 'ivector-normalize-length', 'ivector-compute-lda',
    'ivector-compute-plda', 'ivector-copy-plda', 'ivector-plda-scoring', 'ivector-adapt-plda',
    'ivector-compute-dot-products', 'compute-eer')] + \
    ['src/bin/' + t for t in ('transform-vec', 'est-pca', 'copy-vector')] + \
    ['egs/sre08/v1/sid/compute_min_dcf.py', 'egs/wsj/s5/utils/run.pl']
# ... and, for the extraction tests, Kaldi's features, VAD and nnet3 x-vector tools and scripts.
EXTRACTION = ['src/featbin/' + t for t in (
    'compute-mfcc-feats', 'copy-feats', 'extract-segments', 'apply-cmvn-sliding', 'feat-to-dim',
    'feat-to-len', 'wav-to-duration')] + \
    ['src/ivectorbin/' + t for t in ('compute-vad', 'select-voiced-frames')] + \
    ['src/nnet3bin/' + t for t in ('nnet3-init', 'nnet3-copy', 'nnet3-info', 'nnet3-xvector-compute')] + \
    ['egs/wsj/s5/steps/make_mfcc.sh', 'egs/wsj/s5/steps/nnet3/xconfig_to_configs.py',
     'egs/wsj/s5/utils/validate_data_dir.sh', 'egs/wsj/s5/utils/fix_data_dir.sh',
     'egs/sre08/v1/sid/compute_vad_decision.sh', 'egs/sre08/v1/sid/nnet3/xvector/extract_xvectors.sh']
BIN_DIRS = ('src/bin', 'src/ivectorbin', 'src/featbin', 'src/nnet3bin')
ROOT_VARIABLES = ('VV_TEST_KALDI_ROOT', 'KALDI_ROOT')


class Oracle:
    """The Kaldi of one test session: a user's root, or the build from `source`."""

    def __init__(self, environ, source=os.path.join(SHARED, 'kaldi-oracle'),
                 out_dir=None):
        self.variable = next((v for v in ROOT_VARIABLES if environ.get(v)), None)
        self.user_root = os.path.abspath(environ[self.variable]) if self.variable else None
        self.source = source
        self.out_dir = out_dir or environ.get('VV_KALDI_ORACLE', '/tmp/kaldi-oracle')
        self._built = {}

    def describe(self):
        if self.user_root:
            return '%s=%s (a compiled Kaldi of yours)' % (self.variable, self.user_root)
        return ('built on first use from %s into %s (set KALDI_ROOT or VV_TEST_KALDI_ROOT to '
                'compare with your own)' % (self.source, self.out_dir))

    def kaldi_root(self, extraction=False):
        """The Kaldi root to test against, with the back-end tools (and the extraction
        tools and scripts, with extraction=True); skips the test where there is none."""
        if self.user_root:
            self._check_user_root(BACK_END + (EXTRACTION if extraction else []), extraction)
            return self.user_root
        self._build('build.sh', ['bin/ivector-plda-scoring', 'kaldi-root/egs/wsj/s5/utils/run.pl'])
        if extraction:
            self._build('build-extraction.sh', ['bin/nnet3-xvector-compute',
                                                'kaldi-root/egs/wsj/s5/steps/make_mfcc.sh',
                                                'kaldi-root/egs/sre08/v1/sid/compute_vad_decision.sh'])
        return os.path.join(self.out_dir, 'kaldi-root')

    def binary(self, name):
        """Path of one of Kaldi's binaries, looked up in the root's src/*bin dirs."""
        # In a user's Kaldi, only this binary must be there; the fallback builds its set.
        root = self.user_root or self.kaldi_root(any(p.endswith('/' + name) for p in EXTRACTION))
        for sub in BIN_DIRS:
            path = os.path.join(root, sub, name)
            if os.access(path, os.X_OK):
                return path
        pytest.skip('%s: no executable %s in %s (compile its src/, or unset %s to use Kaldi built '
                    'from %s)' % (self._whose(root), name, ', '.join(BIN_DIRS), ' and '.join(ROOT_VARIABLES),
                                  self.source))

    def script(self, relative, extraction=False):
        """Path of one of Kaldi's scripts (egs/...) in the root."""
        return os.path.join(self.kaldi_root(extraction), relative)

    def _whose(self, root):
        return '%s=%s' % (self.variable, root) if self.user_root else root

    def _check_user_root(self, needed, extraction):
        if not os.path.isdir(self.user_root):
            pytest.skip('%s: no such directory (unset %s to use Kaldi built from %s)'
                        % (self._whose(self.user_root), ' and '.join(ROOT_VARIABLES), self.source))
        for relative in needed:
            path = os.path.join(self.user_root, relative)
            ready = os.access(path, os.X_OK) if relative.startswith('src/') else os.path.isfile(path)
            if not ready:
                pytest.skip('%s: %s %s: not a compiled Kaldi with the %s tools these tests compare '
                            'with (compile its src/, or unset %s to use Kaldi built from %s)'
                            % (self._whose(self.user_root), path,
                               'not executable' if os.path.exists(path) else 'missing',
                               'extraction' if extraction else 'back-end',
                               ' and '.join(v for v in ROOT_VARIABLES), self.source))

    def _build(self, script, markers):
        """Run one of the shared build scripts under a lock; skip the test if it cannot run.

        markers: paths under the out-dir that a finished build leaves; any of them missing
        (say, another checkout's older helper re-ran build.sh) means build again.
        """
        if script in self._built:
            return
        src = os.path.join(self.source, script)
        if not os.path.isfile(src):
            pytest.skip('real Kaldi not available: set KALDI_ROOT to a compiled Kaldi, or provide '
                        '%s (the Kaldi oracle lives in ../shared beside the checkout)' % src)
        os.makedirs(self.out_dir, exist_ok=True)
        log = os.path.join(self.out_dir, script.replace('.sh', '.log'))
        stamp_path = os.path.join(self.out_dir, '.built-' + script)
        stamp = self._source_stamp(src)
        rc = 0
        with open(os.path.join(self.out_dir, '.build.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if _read(stamp_path) != stamp or not self._all_exist(markers):
                    # A rebuild of the back-end re-lays kaldi-root: the extraction layer on top
                    # of it must be laid again too.
                    for old in glob.glob(os.path.join(self.out_dir, '.built-*')):
                        if script == 'build.sh' or old == stamp_path:
                            os.remove(old)
                    with open(log, 'w') as out:
                        rc = subprocess.call(['bash', src, self.out_dir], stdout=out,
                                             stderr=subprocess.STDOUT)
                    if rc == 0:
                        with open(stamp_path, 'w') as f:
                            f.write(stamp)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        if rc != 0 or not self._all_exist(markers):
            with open(log) as f:
                tail = f.read().strip().splitlines()[-1:] or ['(empty log)']
            pytest.skip('real Kaldi could not be built with %s (rc %d; see %s): %s'
                        % (src, rc, log, tail[0]))
        self._built[script] = True

    def _source_stamp(self, script_path):
        """Checksums of a build script and the Kaldi source tarballs beside it."""
        digest = hashlib.sha1()
        for path in [script_path] + sorted(glob.glob(os.path.join(self.source, '*.tgz'))):
            digest.update(path.encode())
            digest.update(str(os.path.getsize(path)).encode())
            with open(path, 'rb') as f:
                digest.update(f.read(1 << 20))      # the tarballs' heads name their contents
        return digest.hexdigest()

    def _all_exist(self, markers):
        return all(os.path.exists(os.path.join(self.out_dir, m)) for m in markers)


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


# The session's choice, made when the test modules are imported (before any test can
# change os.environ).
ORACLE = Oracle(os.environ)
describe = ORACLE.describe
kaldi_root = ORACLE.kaldi_root
binary = ORACLE.binary
script = ORACLE.script
