"""Kaldi-style command lines for our tools: `--name=value` options, positional args.

Kaldi's ParseOptions accepts `--name=value`, a bare `--flag` for true, and treats
'-' and '_' in names alike; booleans are written true/false. We follow it so that
recipe command lines work unchanged with either engine.
"""
import sys

from data_utils import kaldi_streams
from data_utils.errors import UserError, run_main
from data_utils.heap import keep_freed_memory
from kaldi_compat import pipes


def _normalise(name):
    return name.replace('_', '-').lower()


def _parse_bool(text, name):
    value = text.lower()
    if value in ('true', 't', '1'):
        return True
    if value in ('false', 'f', '0'):
        return False
    raise UserError("invalid value '%s' for boolean option --%s (use true or false)"
                     % (text, name))


class Options:
    """Parsed option values, attributes named with '_' (e.g. opts.num_utts)."""

    def __repr__(self):
        return 'Options(%s)' % ', '.join('%s=%r' % kv for kv in sorted(vars(self).items()))


class ToolParser:
    def __init__(self, name, usage, min_args, max_args=None):
        self.name = name
        self.usage = usage.strip()
        self.min_args = min_args
        self.max_args = min_args if max_args is None else max_args
        self._defaults = {}
        self._help = {}

    def add(self, name, default, help=''):
        key = _normalise(name)
        self._defaults[key] = default
        self._help[key] = help
        return self

    def usage_text(self):
        lines = [self.usage, '', 'Options:']
        for key, default in self._defaults.items():
            shown = str(default).lower() if isinstance(default, bool) else default
            lines.append('  --%-28s : %s (default: %s)' % (key, self._help[key], shown))
        return '\n'.join(lines)

    def _convert(self, key, text):
        default = self._defaults[key]
        if isinstance(default, bool):
            return _parse_bool(text, key)
        try:
            if isinstance(default, int):
                return int(text)
            if isinstance(default, float):
                return float(text)
        except ValueError:
            raise UserError("invalid value '%s' for option --%s" % (text, key))
        return text

    def _set(self, values, arg):
        """Apply one '--name[=value]' to values; Kaldi's standard options included."""
        name, eq, text = arg[2:].partition('=')
        key = _normalise(name)
        if key == 'help':
            print(self.usage_text(), file=sys.stderr)
            sys.exit(0)
        if key == 'config':
            # As Kaldi: a file of '--name=value' lines ('#' starts a comment).
            try:
                with open(text) as f:
                    lines = [line.split('#', 1)[0].strip() for line in f]
            except OSError as err:
                raise UserError('%s: cannot read config file: %s' % (text, err.strerror))
            for line in lines:
                if line:
                    if not line.startswith('--'):
                        raise UserError("%s: expected '--name=value', got '%s'" % (text, line))
                    self._set(values, line)
            return
        if key in ('verbose', 'print-args'):
            return      # logging verbosity / echoing the command line: we always echo it
        if key not in values:
            raise UserError('invalid option --%s (see --help)' % name)
        if not eq:
            if not isinstance(self._defaults[key], bool):
                raise UserError('option --%s needs a value: --%s=VALUE' % (name, name))
            text = 'true'
        values[key] = self._convert(key, text)

    def parse(self, argv):
        values = dict(self._defaults)
        args = []
        for arg in argv:
            if arg.startswith('--') and len(arg) > 2 and not args:
                self._set(values, arg)
            else:
                args.append(arg)
        if not self.min_args <= len(args) <= self.max_args:
            print(self.usage_text(), file=sys.stderr)
            raise UserError('expected %s arguments, got %d'
                             % (self.min_args if self.min_args == self.max_args
                                else '%d to %d' % (self.min_args, self.max_args), len(args)))
        opts = Options()
        for key, value in values.items():
            setattr(opts, key.replace('-', '_'), value)
        return opts, args


def log(tool, message):
    """Kaldi-style progress line on stderr."""
    print('LOG (%s) %s' % (tool, message), file=sys.stderr, flush=True)


def log_progress(tool, done_before, done_now, what='trials', every=1000000):
    """A progress line each time the count passes a multiple of `every` (long steps only)."""
    if done_now // every > done_before // every:
        log(tool, '%s %d so far' % (what.capitalize(), done_now // every * every))


def warn(tool, message):
    print('WARNING (%s) %s' % (tool, message), file=sys.stderr, flush=True)


def run_tool(name, main, argv=None):
    """Run main(argv) as Kaldi's binaries run: the command line echoed first (it makes
    logs self-describing), a user error as one 'ERROR (tool): ...' line and exit 1."""
    keep_freed_memory()       # chunk after chunk reuses the same memory (data_utils/heap.py)
    # A pipeline of our own tools in an rspecifier runs in forked children, without a Python
    # start each (kaldi_compat/pipes.py).
    kaldi_streams.start_reader = pipes.start
    run_main(name, main, argv, echo=True)
