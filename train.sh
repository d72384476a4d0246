#!/bin/sh
# train.sh: train the front-ends on the training x-vectors (TF1 graph mode).
#   vae  = v-vector (VAE code mean),  cvae = c-vector (VAE + speaker cohesive loss,
#   initialised from the trained VAE, as in the paper),  ae = a-vector (plain auto-encoder),
#   dnf  = n-vector (discriminative normalisation flow, Cai et al. 2021; model/dnf.py), an
#          option: trained only when named, e.g. --model "ae vae cvae dnf".
# A model that fails (e.g. a divergence its recoveries do not cure) does not stop the others:
# train.sh trains them all, names the failed ones and exits 1; eval.sh scores the trained ones.
# A fault of the machine (a full disk) stops the run, and the models training beside it, with
# its one ERROR line.
#
#   sh train.sh [--model "vae cvae ae"] [--epochs 30] [--kl-weight 1.0] ...
#   sh train.sh --config conf/paper.conf     # the paper's setting (200 epochs, lr 1e-5, ...)
# The defaults below are the demo's setting: the paper's network, trained in minutes on the
# demo's 12k vectors (3 epochs in batches of 64 at lr 1e-4 instead of the authors' 200 epochs
# in batches of 200 at 1e-5 on 200k);
# model/config.py's ModelConfig holds the same values and the reasons, README "The model"
# compares them with the paper's. Every variable below is an option (--name value).
# Re-running resumes each model from its latest checkpoint; a finished model is left as it
# is unless --epochs is raised. Each model dir records its training set ($exp/<model>/
# train_set.json: count, dimension, digests of keys and vectors); a model of other data is
# never resumed or skipped: train.sh stops and says so. The default --exp is exp/<name of
# the data dir>, so the demo's models (exp/demo) and those of your data never meet.
# Jobs run through $train_cmd / $cuda_cmd (cmd.sh); one run at a time per --exp dir.
# Paths below are relative to the repository root (as in a Kaldi egs/ dir).
[ -f local/recipe_setup.sh ] && [ -f path.sh ] ||
  { echo "ERROR (train.sh): run it from the repository root: cd $(dirname "$0") && sh train.sh ..." >&2; exit 1; }
stage=0
stop_stage=100          # run stages --stage to --stop-stage, as in Kaldi's recipes
model=$(local/names.sh front_ends train.sh)  # which to train, in this order (cvae needs vae unless --init-from)
epochs=3
batch_size=64
hidden_dim=1800
code_dim=200
lr=0.0001
beta1=0.5
kl_weight=1.0
cohesive_weight=20      # x mean squared distance of a code to its speaker's mean (paper: 10)
seed=777
init_from=              # for cvae: the VAE model dir to start from (default: $exp/vae)
save_every=5            # checkpoint every N epochs (and always at the end)
dnf_hidden_dim=512      # dnf: width of each coupling layer's MLP (--hidden-dim is the VAEs')
flow_layers=8           # dnf: affine coupling layers
dnf_lr=0.001            # dnf: Adam learning rate (--lr is the VAEs'); see README on longer runs
num_threads=0           # TF intra/inter-op threads; 0 lets TensorFlow decide
parallel=true           # train the models that need no other model of the run at the same time
help_message="Usage: sh train.sh [--config FILE] [--stage N] [--stop-stage N] [--exp DIR] [--model \"$model\"] [--epochs N] [--batch-size N] [--hidden-dim N] [--code-dim N] [--lr X] [--beta1 X] [--kl-weight X] [--cohesive-weight X] [--seed N] [--init-from DIR] [--save-every N] [--dnf-hidden-dim N] [--flow-layers N] [--dnf-lr X] [--parallel true|false]"

. ./path.sh || exit 1
. ./cmd.sh
. conf/data.sh
. local/parse_options.sh || exit 1
exp=${exp:-exp/$(basename "$data")}
local/check_choice.sh train.sh --parallel "$parallel" true false || exit 1
. local/lock.sh
# Paths first: a refused path must not leave a lock file behind.
local/check_paths.sh train.sh "$data" "$exp" && take_lock $exp train.sh || exit 1

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  local/prepare_data.sh "$data" "$train_set" "" "$exp/log" || exit 1
  # The trainer reads an npz: vectors, utterance ids, speaker index and labels; beside it
  # the set's identity, which each model dir records.
  $train_cmd $exp/log/ark2npz.log python3 -m data_utils.ark2npz \
    --data-dir "$data/$train_set" --identity-out $exp/train_set.json $exp/train.npz || exit 1
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  # Our runner can also show training's progress lines as they come; Kaldi's and the grid
  # runners only write the log.
  case $cuda_cmd in local/run_log.sh*) ours=true; show=--tee ;; *) ours=false; show= ;; esac
  # A model that fails does not stop the others: each one's outcome goes to
  # $exp/<model>/train_status ("trained", or "failed: <its ERROR line>"), which eval.sh reads
  # to score the trained ones; the summary below names both, and the exit status is 1 if any
  # failed.
  for m in $model; do
    case $m in vae|cvae|ae|dnf) ;; *) echo "ERROR (train.sh): unknown model '$m' (use vae, cvae, ae or dnf)" >&2; exit 1 ;; esac
  done
  [ -f $exp/train_set.json ] || { echo "ERROR (train.sh): $exp/train_set.json: missing; run stage 0 first" >&2; exit 1; }
  # Before any training: every model dir of other data stops the run (one line each way).
  python3 -m data_utils.set_identity check-models --prog train.sh --train-set $exp/train_set.json \
    $(for m in $model; do printf '%s ' $exp/$m; done) || exit 1

  # train_model <model> <--tee or nothing>: train it; its outcome in $exp/<model>/train_status.
  # Returns 1 when the run must stop: a step of ours failed, or the model met a fault of the
  # machine; a model that failed on its own (a divergence) returns 0, the others go on.
  train_model() {
    m=$1
    case $m in
      vae|ae) init="" ;;
      cvae) init="--init-from ${init_from:-$exp/vae}"
            python3 -m data_utils.set_identity check-init --prog train.sh --train-set $exp/train_set.json \
              --init-from ${init_from:-$exp/vae} || return 1 ;;
      # Given last, these override --hidden-dim and --lr for the flow.
      dnf) init="--hidden-dim $dnf_hidden_dim --flow-layers $flow_layers --lr $dnf_lr" ;;
    esac
    log=$exp/$m/log/train.log
    local/log_history.sh save $log || return 1
    rm -f $exp/$m/train_status
    $cuda_cmd $2 $log python3 -m model.train \
      --train-npz $exp/train.npz --model-dir $exp/$m --model $m --epochs $epochs \
      --batch-size $batch_size --hidden-dim $hidden_dim --code-dim $code_dim --lr $lr \
      --beta1 $beta1 --kl-weight $kl_weight --cohesive-weight $cohesive_weight --seed $seed \
      --save-every $save_every --num-threads $num_threads $init
    status=$?
    # After a failure (the runner has said why) the history is put back quietly: on a full
    # disk it would fail too, and the next run folds it back in.
    if [ $status -eq 0 ]; then
      local/log_history.sh restore $log || return 1
    else
      local/log_history.sh restore $log 2>/dev/null
    fi
    if [ $status -eq 0 ]; then
      { echo trained > $exp/$m/train_status; } 2>/dev/null ||
        { echo "ERROR (train.sh): $exp/$m/train_status: cannot write it (is the disk full?)" >&2; return 1; }
      # Without the live view, show where training ended.
      [ -n "$2" ] || grep -E '^(note:|model\.train:|epoch )' $log | tail -n 3 >&2
    else
      reason=$(grep '^ERROR' $log | tail -n 1)
      # The live view, or our runner, has shown the reason; Kaldi's runners name the log only.
      [ -n "$2" ] || $ours || [ -z "$reason" ] || echo "$reason" >&2
      { echo "failed: ${reason:-exit status $status, see $log}" > $exp/$m/train_status; } 2>/dev/null ||
        return 1
      # A fault of the machine (a full disk, an I/O error) fails the other models too: the run
      # stops on this one ERROR line.
      ! printf '%s\n' "$reason" | grep -qE "$system_faults" || return 1
    fi
  }
  # The system faults as our tools' ERROR lines word them (os.strerror of the errnos that
  # data_utils/errors.py lists in _WRITE_FAULTS): read from the log, whatever the runner, as
  # run.pl and the grid runners do not pass a job's own exit status on.
  system_faults='No space left on device|Disk quota exceeded|File too large|Read-only file system|Input/output error|Permission denied'

  # Two rounds: the models that need no other model of this run, at the same time when
  # --parallel true (each job is one TensorFlow process: on the demo's 2 cores ae and vae
  # side by side took 76 s against 110 s one after the other); then cvae, which starts from
  # this run's vae. The first model of a round trains in the foreground (its progress shown
  # live by our runner), the others as tasks whose output follows it (local/tasks.sh).
  first_round=; second_round=
  for m in $model; do
    if [ $m = cvae ] && [ -z "$init_from" ] && echo " $model " | grep -q ' vae '; then
      second_round="$second_round $m"
    else
      first_round="$first_round $m"
    fi
  done
  . local/tasks.sh
  for round in "$first_round" "$second_round"; do
    set -- $round
    [ $# -gt 0 ] || continue
    fg=$1; shift
    [ "$parallel" = true ] || { set -- $round; fg=; }
    for m; do
      echo "train.sh: training $m in $exp/$m (log: $exp/$m/log/train.log) ..." >&2
      if [ -n "$fg" ]; then
        task_start train_model $m ""
      else
        train_model $m "$show" || exit 1
      fi
    done
    if [ -n "$fg" ]; then
      echo "train.sh: training $fg in $exp/$fg (log: $exp/$fg/log/train.log) ..." >&2
      # A stop ends the models training beside it (local/tasks.sh), unreported: one ERROR line.
      train_model $fg "$show" || tasks_stop 1
      tasks_wait || exit 1
    fi
  done

  trained=; failed=
  for m in $model; do
    case $(cat $exp/$m/train_status 2>/dev/null) in
      trained) trained="$trained $m" ;;
      *) failed="$failed $m" ;;
    esac
  done
  if [ -n "$failed" ]; then
    # Each failure has had its own ERROR line above; this is the summary.
    echo "train.sh: trained:${trained:- none}; failed:$failed (reasons in" \
      "$(for m in $failed; do printf '%s ' $exp/$m/train_status; done | sed 's/ $//'))" >&2
    exit 1
  fi
fi
echo "train.sh: done; models in $(for m in $model; do printf '%s ' $exp/$m; done)" >&2
