"""Check a Kaldi audio data dir before features are computed from it.

    python3 -m data_utils.check_audio --mfcc-config conf/mfcc.conf data/train

Kaldi's utils/validate_data_dir.sh checks sorting and that the files agree, but it
says which file lists differ, not which line, and it never opens the audio: a missing
wav or a wrong sample rate is found only when a feature job fails, in its log. This
checks those first, each problem as one line naming the file:

- wav.scp, utt2spk (and segments if present) name the same utterances (recordings);
- every wav file is named by an absolute path (Kaldi's jobs do not run from here), exists
  and is RIFF/WAVE with the sample rate the MFCC config asks for
  (--sample-frequency; a higher rate is accepted with --allow-downsample=true, a lower
  one with --allow-upsample=true, as compute-mfcc-feats does);
- for wav.scp entries that are commands ('sox in.flac -t wav - |'), audio files named in
  the command must exist, and the first such command is run once to check its rate
  (running every command would decode the corpus twice).

On success it prints one summary line and writes nothing.
"""
import argparse
import os
import re
import struct
import sys

from data_utils import datadir
from data_utils.errors import UserError, run_main
from data_utils.kaldi_streams import open_rx

PROG = 'check_audio'
AUDIO_FILE = re.compile(r'\.(wav|flac|sph|mp3|m4a|ogg|opus|aac|aif|aiff)$', re.I)
KALDI_DEFAULT_RATE = 16000.0     # compute-mfcc-feats' --sample-frequency default


def read_config(path):
    """A Kaldi config file (--name=value lines, '#' comments) as {name: value}."""
    if not os.path.isfile(path):
        raise UserError('%s: missing (MFCC config)' % path)
    options = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            if not line.startswith('--'):
                raise UserError('%s: line %d: expected --name=value, got "%s"' % (path, lineno, line))
            name, _, value = line[2:].partition('=')
            options[name.replace('_', '-')] = value.strip()
    return options


class RateRule:
    """The sample rates compute-mfcc-feats accepts under a config."""

    def __init__(self, config_path):
        options = read_config(config_path)
        self.config = config_path
        try:
            self.rate = float(options.get('sample-frequency', KALDI_DEFAULT_RATE))
        except ValueError:
            raise UserError('%s: --sample-frequency=%s is not a number'
                                % (config_path, options['sample-frequency']))
        self.down = options.get('allow-downsample', 'false') == 'true'
        self.up = options.get('allow-upsample', 'false') == 'true'

    def check(self, rate, where):
        if rate == self.rate or (rate > self.rate and self.down) or (rate < self.rate and self.up):
            return
        raise UserError(
            '%s: sample rate %g Hz, but %s has --sample-frequency=%g (resample it, e.g. in wav.scp '
            "as 'sox <file> -r %g -t wav - |')" % (where, rate, self.config, self.rate, self.rate))


def wav_sample_rate(stream, where):
    """Sample rate from a RIFF/WAVE header: walk the chunks to 'fmt '."""
    head = stream.read(12)
    if len(head) < 12 or head[:4] != b'RIFF' or head[8:12] != b'WAVE':
        raise UserError('%s: not a RIFF/WAVE file (Kaldi reads only wav; convert it, '
                            "e.g. in wav.scp as 'sox <file> -t wav - |')" % where)
    for _ in range(64):             # a wav has a handful of chunks before its data
        chunk = stream.read(8)
        if len(chunk) < 8:
            break
        name, size = chunk[:4], struct.unpack('<I', chunk[4:])[0]
        if name == b'fmt ':
            fmt = stream.read(size)
            if len(fmt) < 8:
                break
            return struct.unpack('<I', fmt[4:8])[0]
        if name == b'data':
            break
        stream.read(size + (size & 1))   # chunks are padded to an even size
    raise UserError('%s: wav header has no format chunk' % where)


def read_wav_scp(path):
    """[(lineno, key, rxfilename)] of wav.scp; keys unique, each with a wav."""
    if not os.path.isfile(path):
        raise UserError('%s: missing' % path)
    entries, seen = [], set()
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.strip().split(None, 1)
            if not fields:
                continue
            if len(fields) < 2:
                raise UserError('%s: line %d: %s has no wav' % (path, lineno, fields[0]))
            if fields[0] in seen:
                raise UserError('%s: line %d: %s appears twice' % (path, lineno, fields[0]))
            seen.add(fields[0])
            entries.append((lineno, fields[0], fields[1]))
    if not entries:
        raise UserError('%s: empty' % path)
    return entries


def read_segments(path):
    """{utterance: (lineno, recording)} of a segments file."""
    segments = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                ok = len(fields) == 4 and float(fields[3]) > float(fields[2]) >= 0
            except ValueError:
                ok = False
            if not ok:
                raise UserError('%s: line %d: expected "utterance recording start end" with '
                                    '0 <= start < end' % (path, lineno))
            if fields[0] in segments:
                raise UserError('%s: line %d: %s appears twice' % (path, lineno, fields[0]))
            segments[fields[0]] = (lineno, fields[1])
    return segments


def check_keys(data_dir, wav_entries, utt2spk):
    """wav.scp, utt2spk and segments agree on utterances and recordings."""
    wav_scp, utt2spk_path = os.path.join(data_dir, 'wav.scp'), os.path.join(data_dir, 'utt2spk')
    segments_path = os.path.join(data_dir, 'segments')
    recordings = {key: lineno for lineno, key, _ in wav_entries}
    if not os.path.isfile(segments_path):
        for lineno, key, _ in wav_entries:
            if key not in utt2spk:
                raise UserError('%s: line %d: utterance %s has no line in %s'
                                    % (wav_scp, lineno, key, utt2spk_path))
        utterances, listed_in = recordings, wav_scp
    else:
        segments = read_segments(segments_path)
        for utt, (lineno, rec) in segments.items():
            if rec not in recordings:
                raise UserError('%s: line %d: recording %s has no line in %s'
                                    % (segments_path, lineno, rec, wav_scp))
            if utt not in utt2spk:
                raise UserError('%s: line %d: utterance %s has no line in %s'
                                    % (segments_path, lineno, utt, utt2spk_path))
        utterances, listed_in = segments, segments_path
    for utt in utt2spk:
        if utt not in utterances:
            raise UserError('%s: utterance %s has no line in %s' % (utt2spk_path, utt, listed_in))


def check_audio_path(path, where):
    # Kaldi's jobs run from the dir of Kaldi's scripts, not from here.
    if not os.path.isabs(path):
        raise UserError('%s: relative path %s; Kaldi reads wav.scp from another directory, '
                            'give absolute paths' % (path, where))
    if not os.path.isfile(path):
        raise UserError('%s: no such file %s' % (path, where))


def check_wav(lineno, key, rx, rule, wav_scp, run_command):
    """One wav.scp entry: the file (or the command's files) exists; its rate fits."""
    where = '(%s line %d, %s)' % (wav_scp, lineno, key)
    if rx.endswith('|'):
        for token in rx[:-1].split():
            if AUDIO_FILE.search(token):
                check_audio_path(token, where)
        if not run_command:
            return
        label = "%s: line %d: command '%s'" % (wav_scp, lineno, rx[:-1].strip())
        with open_rx(rx) as stream:
            rate = wav_sample_rate(stream, label)
            while stream.read(1 << 20):  # let the command finish, so its exit status counts
                pass
        rule.check(rate, label)
        return
    path = rx
    match = re.match(r'^(.*):(\d+)$', rx)
    if match and not os.path.exists(rx):
        path = match.group(1)           # 'archive.ark:offset', Kaldi's rxfilename
    check_audio_path(path, where)
    with open_rx(rx) as stream:
        rate = wav_sample_rate(stream, '%s %s' % (rx, where))
    rule.check(rate, '%s %s' % (rx, where))


def check(data_dir, mfcc_config):
    """Raise UserError on the first problem; return (recordings, utterances)."""
    if not os.path.isdir(data_dir):
        raise UserError('%s: no such data directory' % data_dir)
    rule = RateRule(mfcc_config)
    wav_scp = os.path.join(data_dir, 'wav.scp')
    wav_entries = read_wav_scp(wav_scp)
    utt2spk = datadir.read_pairs(os.path.join(data_dir, 'utt2spk'), 'utt2spk')
    datadir.read_spk2utt(os.path.join(data_dir, 'spk2utt'))
    check_keys(data_dir, wav_entries, utt2spk)
    commands_run = 0
    for lineno, key, rx in wav_entries:
        is_command = rx.endswith('|')
        check_wav(lineno, key, rx, rule, wav_scp, run_command=is_command and commands_run == 0)
        commands_run += is_command
    return len(wav_entries), len(utt2spk), rule.rate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mfcc-config', default='conf/mfcc.conf',
                        help='compute-mfcc-feats config whose --sample-frequency the wavs must have')
    parser.add_argument('data_dir', help='Kaldi data dir with wav.scp, utt2spk, spk2utt [segments]')
    args = parser.parse_args(argv)
    recordings, utterances, rate = check(args.data_dir, args.mfcc_config)
    print('%s: %s: %d recordings, %d utterances, %g Hz' % (PROG, args.data_dir, recordings, utterances, rate),
          file=sys.stderr)


if __name__ == '__main__':
    run_main(PROG, main)
