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
# (oneDNN's "custom operations are on", CPU instruction hints), and the CUDA plugins'
# registrations, logged as errors: "Unable to register cuDNN factory" (a plugin registered
# twice: harmless, on every machine) and, without a GPU, cuInit's failure.
_TF_START_UP_CHATTER = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|^[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    r"|^E\d{4} .*Unable to register cu\w+ factory")
# On a machine without a GPU the CUDA libraries' failures are expected. On a machine with
# one they say why TensorFlow cannot use it, so they are shown, as are all lines naming
# a GPU or CUDA library there, whatever their level.
_CUDA_ERROR_WITHOUT_GPU = re.compile(r"^E\d{4} .*(failed call to cuInit|cuda)", re.I)
_GPU_TROUBLE = re.compile(r"cuda|cudnn|cublas|cuInit|libcu|GPU|dlopen", re.I)


def nvidia_gpu_present():
    """An NVIDIA driver with a device on this machine (whether TensorFlow can use it or
    not): its device nodes, as nvidia-smi finds them."""
    return any(os.path.exists(f"/dev/nvidia{i}") for i in range(16))


def start_up_noise(line, gpu_present):
    """True for a line TensorFlow prints while loading that does not concern the user."""
    if gpu_present and _GPU_TROUBLE.search(line) and "Unable to register" not in line:
        return False
    return bool(_TF_START_UP_CHATTER.search(line)
                or (not gpu_present and _CUDA_ERROR_WITHOUT_GPU.search(line)))


def import_tensorflow():
    """Import TensorFlow with its start-up chatter kept off the console.

    TF_CPP_MIN_LOG_LEVEL=2 (set before the first import) silences the C++ INFO and
    WARNING lines once logging is set up, and the Python-side logger carries the
    compat.v1 deprecation notices. The lines printed while the libraries load ignore
    both, so the import runs with stderr (fd 2) captured, and whatever is not known
    chatter is passed on (start_up_noise: never a CUDA error on a machine with a GPU). (TF_ENABLE_ONEDNN_OPTS=0 would hide the oneDNN line too, but
    by changing the numbers the models compute.)
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        sys.stderr.flush()
        gpu_present = nvidia_gpu_present()
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
                    if not start_up_noise(line, gpu_present):
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
    """ConfigProto with intra/inter-op threads set (0 keeps TensorFlow's default). On a GPU:
    an op without a GPU kernel runs on the CPU instead of failing, and memory is taken as
    needed, not all of it at once (other jobs may share the GPU)."""
    config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=num_threads,
        inter_op_parallelism_threads=num_threads,
        allow_soft_placement=True)
    config.gpu_options.allow_growth = True
    return config


def device_description(tf):
    """Where the graph's ops run: "GPU 0 (<name>)", or "the CPU" with the reason a GPU on
    this machine is not used (the line model.train writes to train.log)."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        name = details.get("device_name", "unknown model")
        more = f", {len(gpus)} visible, the first used" if len(gpus) > 1 else ""
        return f"GPU 0 ({name}{more})"
    if not nvidia_gpu_present():
        return f"the CPU ({os.cpu_count()} cores)"
    if not tf.test.is_built_with_cuda():
        return ("the CPU, although this machine has an NVIDIA GPU: this TensorFlow has no "
                "CUDA support (source path.sh with VV_TF=gpu to install it)")
    return ("the CPU, although this machine has an NVIDIA GPU: TensorFlow found no usable "
            "GPU (run with TF_CPP_MIN_LOG_LEVEL=0 to see why)")
