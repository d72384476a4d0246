"""TensorFlow start-up for the model's command-line entry points (train, extract,
benchmark_train); their errors are reported by data_utils.errors.run_main.
"""
import os
import re
import sys
import tempfile
import threading


# What TensorFlow's C++ side prints while it loads, before absl logging is initialised and
# so regardless of TF_CPP_MIN_LOG_LEVEL: absl's notice about that, then INFO/WARNING lines
# (oneDNN's "custom operations are on", CPU instruction hints), and on machines without a
# GPU the CUDA plugins' failed registrations, logged as errors. None concerns the user.
_TF_START_UP_CHATTER = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|^[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    r"|^E\d{4} .*(Unable to register cu\w+ factory|failed call to cuInit|cuda)")


def import_tensorflow():
    """Import TensorFlow with its start-up chatter kept off the console.

    TF_CPP_MIN_LOG_LEVEL=2 (set before the first import) silences the C++ INFO and
    WARNING lines once logging is set up, and the Python-side logger carries the
    compat.v1 deprecation notices. The lines printed while the libraries load ignore
    both, so the import runs with stderr (fd 2) captured, and whatever is not known
    chatter is passed on. (TF_ENABLE_ONEDNN_OPTS=0 would hide the oneDNN line too, but
    by changing the numbers the models compute.)
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        sys.stderr.flush()
        saved_fd = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                import tensorflow  # noqa: F401  (the chatty part; bound below)
            finally:
                sys.stderr.flush()
                os.dup2(saved_fd, 2)
                os.close(saved_fd)
                captured.seek(0)
                for line in captured.read().decode("utf-8", "replace").splitlines(True):
                    if not _TF_START_UP_CHATTER.search(line):
                        sys.stderr.write(line)
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    tf.get_logger().addFilter(_drop_writer_thread_errors)
    threading.excepthook = _quiet_writer_thread_exit
    return tf


def _quiet_writer_thread_exit(args, default=threading.excepthook):
    """The TensorBoard writer's thread ends with its I/O error (a full disk) after handing
    it back to the next flush or close: no traceback for it here."""
    if "EventFileWriter" in str(getattr(args.thread, "name", "")) or "tfevents" in str(args.exc_value):
        return
    default(args)


def _drop_writer_thread_errors(record):
    """The TensorBoard writer's thread logs its I/O error with a traceback, then hands it
    back to the next flush or close, where model.train reports it in one line."""
    return not record.getMessage().startswith("EventFileWriter writer thread error")


def session_config(tf, num_threads):
    """ConfigProto with intra/inter-op threads set; 0 keeps TensorFlow's default."""
    return tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=num_threads,
        inter_op_parallelism_threads=num_threads)
