"""Model configuration and the ``config.json`` kept in every model directory.

config.json holds two sections:

* ``model``: a ModelConfig -- the architecture (model type, input/hidden/code
  dims) plus the optimisation settings that shape the graph;
* ``training``: loop settings (epochs, batch size, ...) that may change when a
  run is resumed, e.g. ``--epochs`` raised to train further.

Only the architecture is binding for a re-run: a checkpoint cannot be restored
into a graph of a different shape.
"""
import dataclasses
import importlib
import json
import os
from typing import Optional

from data_utils.atomic import atomic_write
from data_utils.errors import UserError

MODEL_TYPES = ("vae", "cvae", "ae", "dnf")
# The module that builds each model type's graph (imported lazily: it imports TensorFlow).
GRAPH_MODULES = {"vae": "model.vae", "cvae": "model.vae", "ae": "model.vae", "dnf": "model.dnf"}
# Models whose loss needs each speaker's mean embedding, recomputed every epoch
# over the whole training set and fed per batch (model.epochs.speaker_means).
SPEAKER_MEAN_MODELS = ("cvae", "dnf")
CONFIG_NAME = "config.json"
# Version 2: cohesive_weight multiplies a mean over the code's dimensions; version 1's
# multiplied a sum, and load_config converts it (x code_dim) so the objective stays the same.
CONFIG_VERSION = 2

# Fields that fix the shapes of the variables in a checkpoint (and, for the
# model type, what the variables mean).  A re-run must agree on all of them.
ARCHITECTURE_FIELDS = ("model", "input_dim", "hidden_dim", "code_dim", "flow_layers")


@dataclasses.dataclass
class ModelConfig:
    """Hyper-parameters of one model: the Python defaults, which train.sh repeats as its
    shell variables (tests/test_defaults.py keeps the two, and model.train --help, equal).

    The defaults are the demo's setting, tuned to train in minutes on the demo corpus;
    conf/paper.conf holds the paper's (README, "The model", compares the two).  The network
    is the paper's: 1800 hidden units, 200-dim code.  Adam's beta1=0.5 as in the authors'
    code (rather than Adam's usual 0.9).  lr=1e-4, not the authors' 1e-5: theirs was for
    200 epochs of 200k vectors in batches of 200 (200k steps), the demo trains 3 epochs of
    12k vectors in batches of 64 (about 560 steps); at 1e-3 the 1800-unit
    sigmoid/elu/tanh stack was unstable on the demo corpus (the KL swung between 130 and
    550 nats while the reconstruction error stayed at the input variance for 10 epochs);
    at 1e-4 both fall steadily.  The KL weight is 1, the plain sum of the VAE's objective
    (the authors' 0.03 balanced the KL against the reconstruction error of raw x-vectors;
    ours reconstructs standardised ones).  The cohesive weight multiplies the mean over the
    code's dimensions of the squared distance to the speaker's mean code, as in the
    authors' code, so the paper's 10 means what it says; 20 is what the demo was tuned with (it
    was 0.1 on a sum over the default 200 dimensions, the same objective), and keeps the
    c-vector's gain on the demo.  The seed is the recipe's.
    """
    model: str = "vae"
    input_dim: Optional[int] = None   # set from the training data; never assumed
    hidden_dim: int = 1800
    code_dim: int = 200
    lr: float = 1e-4
    beta1: float = 0.5
    kl_weight: float = 1.0
    cohesive_weight: float = 20.0
    flow_layers: int = 8              # dnf: affine coupling layers (hidden_dim is their MLPs' width)
    seed: int = 777

    def validate(self):
        """Raise ValueError naming the first bad field."""
        if self.model not in MODEL_TYPES:
            raise ValueError(f"model must be one of {', '.join(MODEL_TYPES)}, got {self.model!r}")
        for name in ("hidden_dim", "code_dim", "flow_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.input_dim is not None and (not isinstance(self.input_dim, int) or self.input_dim <= 0):
            raise ValueError(f"input_dim must be a positive integer, got {self.input_dim!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if not 0 <= self.beta1 < 1:
            raise ValueError(f"beta1 must be in [0, 1), got {self.beta1!r}")
        for name in ("kl_weight", "cohesive_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2 ** 31:
            raise ValueError(f"seed must be an integer in [0, 2^31), got {self.seed!r}")
        return self

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model setting(s): {', '.join(unknown)}")
        return cls(**data).validate()

    def architecture_differences(self, other):
        """Human-readable list of architecture fields where ``other`` differs."""
        return [f"{name} {getattr(self, name)!r} != {getattr(other, name)!r}"
                for name in ARCHITECTURE_FIELDS
                if getattr(self, name) != getattr(other, name)]


def graph_module(model_type):
    """The module with build_graph / loss_terms / model_variables for this model type."""
    return importlib.import_module(GRAPH_MODULES[model_type])


def config_path(model_dir):
    return os.path.join(model_dir, CONFIG_NAME)


def save_config(model_dir, config, training):
    """Write ``config.json`` atomically (temp file + rename)."""
    document = {"version": CONFIG_VERSION, "model": config.to_dict(), "training": dict(training)}
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    atomic_write(config_path(model_dir), lambda f: f.write(text.encode("utf-8")))


def _cohesive_weight_per_dimension(model):
    """A version-1 model section with its cohesive weight (on a sum over the code's
    dimensions) expressed on the mean over them: the same objective."""
    weight, code_dim = model.get("cohesive_weight"), model.get("code_dim")
    if isinstance(weight, (int, float)) and isinstance(code_dim, int):
        model = dict(model, cohesive_weight=float(weight) * code_dim)
    return model


def load_config(model_dir):
    """Read a model directory's config.json -> (ModelConfig, training dict).

    Raises UserError naming the file when it is missing or malformed.
    """
    path = config_path(model_dir)
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise UserError(path, "no such file (not a model directory?)") from None
    except (OSError, ValueError) as exc:
        raise UserError(path, f"cannot read config: {exc}") from None
    if not isinstance(document, dict) or "model" not in document:
        raise UserError(path, "not a model config (no 'model' section)")
    version = document.get("version")
    if version not in (1, CONFIG_VERSION):
        raise UserError(path, f"unsupported config version {version!r}")
    if version == 1 and isinstance(document["model"], dict):
        document["model"] = _cohesive_weight_per_dimension(document["model"])
    try:
        config = ModelConfig.from_dict(document["model"])
    except (TypeError, ValueError) as exc:
        raise UserError(path, f"bad model config: {exc}") from None
    if config.input_dim is None:
        raise UserError(path, "model config has no input_dim")
    training = document.get("training") or {}
    if not isinstance(training, dict):
        raise UserError(path, "'training' section is not an object")
    return config, training
