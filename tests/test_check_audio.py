"""data_utils/check_audio.py without Kaldi: the checks make_features.sh runs before any job.

The same checks run through local/make_features.sh on real Kaldi in test_extraction_kaldi.py;
here are the cases that need no Kaldi: wav headers, rates, command and archive entries.
"""
import io
import struct
import wave

import numpy as np
import pytest

from data_utils import check_audio
from data_utils.errors import UserError
from helpers import run_module


def wav_bytes(rate, seconds=0.1, extra_chunk=b''):
    """A 16-bit mono RIFF/WAVE file; extra_chunk goes before 'fmt ' (as some writers put LIST)."""
    buf = io.BytesIO()
    with wave.open(buf, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.sin(np.arange(int(rate * seconds)) * 0.1) * 3000).astype('<i2').tobytes())
    data = buf.getvalue()
    body = b'WAVE' + extra_chunk + data[12:]
    return b'RIFF' + struct.pack('<I', len(body)) + body


def audio_dir(tmp_path, rates, config='--sample-frequency=16000\n'):
    """A data dir of one wav per utterance at the given rates, and an MFCC config."""
    data = tmp_path / 'data'
    data.mkdir()
    scp, utt2spk = [], []
    for i, rate in enumerate(rates):
        path = tmp_path / ('u%d.wav' % i)
        path.write_bytes(wav_bytes(rate))
        scp.append('u%d %s\n' % (i, path))
        utt2spk.append('u%d s%d\n' % (i, i))
    (data / 'wav.scp').write_text(''.join(scp))
    (data / 'utt2spk').write_text(''.join(utt2spk))
    (data / 'spk2utt').write_text(''.join('s%d u%d\n' % (i, i) for i in range(len(rates))))
    conf = tmp_path / 'mfcc.conf'
    conf.write_text(config)
    return str(data), str(conf)


def test_a_good_dir_passes_and_the_cli_says_so(tmp_path):
    data, conf = audio_dir(tmp_path, [16000, 16000])
    assert check_audio.check(data, conf) == (2, 2, 16000)
    out = run_module('data_utils.check_audio', '--mfcc-config', conf, data)
    assert out.returncode == 0 and out.stderr == 'check_audio: %s: 2 recordings, 2 utterances, 16000 Hz\n' % data


def test_the_rate_is_found_past_other_chunks(tmp_path):
    path = tmp_path / 'a.wav'
    path.write_bytes(wav_bytes(22050, extra_chunk=b'LIST' + struct.pack('<I', 5) + b'INFO\0\0'))
    with open(path, 'rb') as f:
        assert check_audio.wav_sample_rate(f, str(path)) == 22050


@pytest.mark.parametrize('config, rate, accepted', [
    ('--sample-frequency=16000\n', 44100, False),
    ('--sample-frequency=16000 # the recipes\' rate\n--allow-downsample=true\n', 44100, True),
    ('--allow-downsample=true\n', 8000, False),          # Kaldi's default rate is 16 kHz
    ('--sample-frequency=16000\n--allow-upsample=true\n', 8000, True),
    ('--sample-frequency=8000\n', 8000, True)])
def test_rates_follow_compute_mfcc_feats_rules(tmp_path, config, rate, accepted):
    data, conf = audio_dir(tmp_path, [rate], config)
    if accepted:
        check_audio.check(data, conf)
    else:
        with pytest.raises(UserError, match=r'u0.wav \(.*wav.scp line 1, u0\): sample rate %d Hz, but '
                           % rate):
            check_audio.check(data, conf)


def test_a_file_that_is_not_wav_is_refused(tmp_path):
    data, conf = audio_dir(tmp_path, [16000])
    (tmp_path / 'u0.wav').write_bytes(b'fLaC\0\0\0\x22' + bytes(40))
    with pytest.raises(UserError, match='u0.wav .*: not a RIFF/WAVE file'):
        check_audio.check(data, conf)


def test_command_entries_are_run_once_for_their_rate(tmp_path):
    data, conf = audio_dir(tmp_path, [16000, 16000])
    scp = tmp_path / 'data' / 'wav.scp'
    (tmp_path / 'u0.wav').write_bytes(wav_bytes(8000))
    scp.write_text('u0 cat %s |\nu1 cat %s |\n' % (tmp_path / 'u0.wav', tmp_path / 'u1.wav'))
    with pytest.raises(UserError, match=r"wav.scp: line 1: command 'cat .*u0.wav': sample rate 8000 Hz"):
        check_audio.check(data, conf)
    scp.write_text('u0 cat %s | false |\nu1 cat %s |\n' % (tmp_path / 'u1.wav', tmp_path / 'u1.wav'))
    with pytest.raises(UserError, match='not a RIFF/WAVE file|failed with exit status'):
        check_audio.check(data, conf)


def test_an_archive_offset_entry_is_read_at_its_offset(tmp_path):
    data, conf = audio_dir(tmp_path, [16000])
    ark = tmp_path / 'audio.ark'
    ark.write_bytes(b'u0 ' + wav_bytes(16000))
    (tmp_path / 'data' / 'wav.scp').write_text('u0 %s:3\n' % ark)
    check_audio.check(data, conf)
    ark.write_bytes(b'u0 ' + wav_bytes(8000))
    with pytest.raises(UserError, match='audio.ark:3 .*sample rate 8000 Hz'):
        check_audio.check(data, conf)


def test_utterances_must_agree_between_files(tmp_path):
    data, conf = audio_dir(tmp_path, [16000, 16000])
    (tmp_path / 'data' / 'utt2spk').write_text('u0 s0\nu1 s1\nu2 s2\n')
    with pytest.raises(UserError, match=r'data/utt2spk: utterance u2 has no line in .*data/wav.scp$'):
        check_audio.check(data, conf)
    (tmp_path / 'data' / 'utt2spk').write_text('u0 s0\nu1 s1\n')
    (tmp_path / 'data' / 'segments').write_text('u0 u0 0 0.05\nu1 u1 0 0.05\nu9 u1 0.05 0.1\n')
    with pytest.raises(UserError, match=r'data/segments: line 3: utterance u9 has no line in .*data/utt2spk$'):
        check_audio.check(data, conf)
    (tmp_path / 'data' / 'segments').write_text('u0 u0 0 0.05\nu1 u1 0.05 0.05\n')
    with pytest.raises(UserError, match=r'data/segments: line 2: expected "utterance recording start end"'):
        check_audio.check(data, conf)
