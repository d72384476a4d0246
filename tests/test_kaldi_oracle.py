"""Which real Kaldi the comparison tests use (tests/kaldi_oracle.py).

A compiled Kaldi named by VV_TEST_KALDI_ROOT or KALDI_ROOT is chosen over the build from
../shared, and nothing is built then; a tree without the tools a test needs skips it with
a line naming the missing file; with neither variable set, the shared build is the
fallback. The Kaldi trees here are stand-ins: files at the places of Kaldi's binaries and
scripts. The last test runs a parity test against one whose ivector-subtract-global-mean
wraps ours and records each call, to show that the real-Kaldi tests run the chosen Kaldi's
binaries.
"""
import os
import subprocess
import sys

import pytest

import kaldi_oracle
from helpers import ROOT, env


def fake_kaldi(root, parts=kaldi_oracle.BACK_END + kaldi_oracle.EXTRACTION, body='exit 0\n'):
    """A Kaldi-shaped tree: an executable stand-in at each of parts."""
    for relative in parts:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('#!/bin/sh\n' + body)
        path.chmod(0o755)
    return root


class Answering:
    """An Oracle whose skips fail the test: where a test here expects an answer, a skip
    (the oracle looking for a build instead) is the bug."""

    def __init__(self, oracle):
        self.oracle = oracle

    def __getattr__(self, name):
        def call(*args, **kwargs):
            try:
                return getattr(self.oracle, name)(*args, **kwargs)
            except pytest.skip.Exception as skip:
                pytest.fail('%s skipped: %s' % (name, skip))
        return call


def skip_reason(call):
    with pytest.raises(pytest.skip.Exception) as info:
        call()
    return str(info.value)


def test_a_compiled_kaldi_named_by_kaldi_root_is_chosen_and_nothing_is_built(tmp_path):
    root = fake_kaldi(tmp_path / 'kaldi')
    no_build = tmp_path / 'no-build'
    oracle = Answering(kaldi_oracle.Oracle({'KALDI_ROOT': str(root)}, source=str(tmp_path / 'no-source'),
                                           out_dir=str(no_build)))
    assert oracle.kaldi_root() == oracle.kaldi_root(extraction=True) == str(root)
    assert oracle.binary('ivector-plda-scoring') == str(root / 'src/ivectorbin/ivector-plda-scoring')
    assert oracle.binary('est-pca') == str(root / 'src/bin/est-pca')
    assert oracle.binary('nnet3-xvector-compute') == str(root / 'src/nnet3bin/nnet3-xvector-compute')
    assert oracle.script('egs/sre08/v1/sid/compute_min_dcf.py') == str(root / 'egs/sre08/v1/sid/compute_min_dcf.py')
    assert oracle.describe().startswith('KALDI_ROOT=%s ' % root)
    assert not no_build.exists()
    # VV_TEST_KALDI_ROOT, the tests' own option, wins over KALDI_ROOT; an empty one is unset.
    other = fake_kaldi(tmp_path / 'other')
    chosen = Answering(kaldi_oracle.Oracle({'KALDI_ROOT': str(root), 'VV_TEST_KALDI_ROOT': str(other)}))
    assert chosen.kaldi_root() == str(other) and chosen.describe().startswith('VV_TEST_KALDI_ROOT=')
    assert Answering(kaldi_oracle.Oracle({'KALDI_ROOT': str(root), 'VV_TEST_KALDI_ROOT': ''})).kaldi_root() == str(root)


def test_a_kaldi_without_the_tools_a_test_needs_skips_it_naming_the_file(tmp_path):
    # Back-end tools only, as a Kaldi whose src/featbin and src/nnet3bin were never compiled.
    root = fake_kaldi(tmp_path / 'kaldi', kaldi_oracle.BACK_END)
    oracle = kaldi_oracle.Oracle({'KALDI_ROOT': str(root)}, source=str(tmp_path / 'no-source'))
    assert Answering(oracle).kaldi_root() == str(root)
    reason = skip_reason(lambda: oracle.kaldi_root(extraction=True))
    assert reason.startswith('KALDI_ROOT=%s: %s/src/featbin/compute-mfcc-feats missing: not a compiled '
                             'Kaldi with the extraction tools' % (root, root)), reason
    assert 'unset VV_TEST_KALDI_ROOT and KALDI_ROOT' in reason
    assert skip_reason(lambda: oracle.binary('nnet3-info')).startswith(
        'KALDI_ROOT=%s: no executable nnet3-info in src/bin, src/ivectorbin, src/featbin, src/nnet3bin' % root)
    assert Answering(oracle).binary('ivector-mean') == str(root / 'src/ivectorbin/ivector-mean')
    # A source checkout: the file is there, not built into a program.
    (root / 'src/ivectorbin/ivector-mean').chmod(0o644)
    reason = skip_reason(oracle.kaldi_root)
    assert '%s/src/ivectorbin/ivector-mean not executable' % root in reason and 'back-end tools' in reason
    assert skip_reason(kaldi_oracle.Oracle({'KALDI_ROOT': str(tmp_path / 'nowhere')}).kaldi_root).startswith(
        'KALDI_ROOT=%s: no such directory' % (tmp_path / 'nowhere'))


def test_without_a_kaldi_root_the_shared_build_is_the_fallback(tmp_path):
    source, out = tmp_path / 'kaldi-oracle', tmp_path / 'out'
    oracle = kaldi_oracle.Oracle({'KALDI_ROOT': ''}, source=str(source), out_dir=str(out))
    assert oracle.describe().startswith('built on first use from %s into %s' % (source, out))
    assert 'set KALDI_ROOT to a compiled Kaldi, or provide %s/build.sh' % source in skip_reason(oracle.kaldi_root)
    # A stand-in build script: lays out what build.sh leaves, and counts its runs.
    source.mkdir()
    (source / 'build.sh').write_text(
        'echo run >> "$1/runs"; mkdir -p "$1/bin" "$1/kaldi-root/egs/wsj/s5/utils" "$1/kaldi-root/src/ivectorbin"\n'
        'touch "$1/bin/ivector-plda-scoring" "$1/kaldi-root/egs/wsj/s5/utils/run.pl"\n'
        'printf "#!/bin/sh\\n" > "$1/kaldi-root/src/ivectorbin/ivector-mean"\n'
        'chmod +x "$1/kaldi-root/src/ivectorbin/ivector-mean"\n')
    assert Answering(oracle).kaldi_root() == str(out / 'kaldi-root')
    assert Answering(oracle).binary('ivector-mean') == str(out / 'kaldi-root/src/ivectorbin/ivector-mean')
    # Built once: a second session finds the stamp and the build in place.
    again = Answering(kaldi_oracle.Oracle({}, source=str(source), out_dir=str(out)))
    assert again.kaldi_root() == str(out / 'kaldi-root')
    assert (out / 'runs').read_text() == 'run\n'


def test_the_parity_tests_run_the_binaries_of_the_chosen_kaldi(tmp_path):
    # A "Kaldi" whose ivector-subtract-global-mean is ours, wrapped to record each call: the
    # parity test passes against it (it is ours), and the record shows whose binary it ran.
    calls = tmp_path / 'calls'
    root = fake_kaldi(tmp_path / 'kaldi')
    fake_kaldi(root, ['src/ivectorbin/ivector-subtract-global-mean'],
               body='echo "$0" >> %s\nexec %s/local/bin/ivector-subtract-global-mean "$@"\n' % (calls, ROOT))
    e = env()
    e.pop('VV_TEST_KALDI_ROOT', None)
    e['KALDI_ROOT'] = str(root)
    e['VV_KALDI_ORACLE'] = str(tmp_path / 'no-build')
    test = 'tests/test_kaldi_parity.py::test_parity_with_kaldi[ivector-subtract-global-mean-gaussian[text]]'
    out = subprocess.run([sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', test],
                         cwd=ROOT, env=e, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert '1 passed' in out.stdout
    # pytest's header names the choice; the record, whose binary ran; nothing was built.
    assert 'real Kaldi for the comparisons: KALDI_ROOT=%s ' % root in out.stdout
    assert calls.read_text().splitlines() and set(calls.read_text().splitlines()) == {
        str(root / 'src/ivectorbin/ivector-subtract-global-mean')}
    assert not (tmp_path / 'no-build').exists()
