# How the recipes' jobs are run, in Kaldi's convention: every job is started as
#   $train_cmd [JOB=1:N] <log> <command> ...    (training: $cuda_cmd, where a GPU is wanted)
# Sourced by the recipes after path.sh; --cmd options override it where a script has one.
#
# run.pl, queue.pl and slurm.pl are Kaldi's own job runners, in $KALDI_ROOT/egs/wsj/s5/utils
# (path.sh puts that dir on PATH when it finds a compiled Kaldi):
#   run.pl    runs the jobs on this machine, several at a time;
#   queue.pl  submits them to Grid Engine (options in conf/queue.conf if present);
#   slurm.pl  submits them to SLURM (options in conf/slurm.conf if present).
# Without Kaldi, local/run_log.sh takes run.pl's place: the same arguments and logs.
# On a grid, set the line for your scheduler, with the memory your nodes need: in the
# environment of the recipes (it is kept; cmd.sh fills in only what is unset), e.g.
#   export train_cmd="slurm.pl --mem 4G"; export cuda_cmd="slurm.pl --gpu 1 --mem 8G"
#   export train_cmd="queue.pl --mem 4G"; export cuda_cmd="queue.pl --gpu 1 --mem 8G"
# or here, in place of the defaults below. slurm.pl reads its sbatch options from
# conf/slurm.conf, queue.pl its qsub options from conf/queue.conf (Kaldi's format).
# A grid job starts in a fresh shell on a node, which sources ./path.sh: the runner must
# hand it PATH, KALDI_ROOT and VV_VENV (conf/slurm.conf's --export does; for queue.pl,
# "command qsub -v PATH,KALDI_ROOT,VV_VENV ..." in conf/queue.conf).

if [ -z "${train_cmd:-}" ]; then
  if command -v run.pl > /dev/null 2>&1; then
    train_cmd="run.pl"
  else
    train_cmd="local/run_log.sh"
  fi
fi
export train_cmd
# Training uses a GPU when TensorFlow sees one; --gpu 1 only tells a grid runner to ask for it
# (run.pl and local/run_log.sh ignore it). Asked for when this machine's nvidia-smi lists a
# GPU, as path.sh decides which TensorFlow to install; on a grid whose GPUs are on the nodes
# only, set cuda_cmd as shown above.
if [ -z "${cuda_cmd:-}" ]; then
  if nvidia-smi -L 2> /dev/null | grep -q '^GPU '; then
    cuda_cmd="$train_cmd --gpu 1"
  else
    cuda_cmd="$train_cmd"
  fi
fi
export cuda_cmd
# Kaldi's runners say only "run.pl: job failed, log is in ..." when a job fails (and a grid
# job's output is in its log alone): local/kaldi_runner.sh runs them and then reports the
# failed job as local/run_log.sh does, with its ERROR lines or one of ours naming its log.
for vv_var in train_cmd cuda_cmd; do
  eval "vv_cmd=\$$vv_var"
  case ${vv_cmd%% *} in
    */local/kaldi_runner.sh|local/kaldi_runner.sh) ;;   # already (a recipe run by another)
    run.pl|queue.pl|slurm.pl|*/run.pl|*/queue.pl|*/slurm.pl)   # by its full path: Kaldi's scripts run it from their own dir
      eval "$vv_var=\"${vv_root:-$PWD}/local/kaldi_runner.sh \$vv_cmd\"" ;;
  esac
done
