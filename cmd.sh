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
# On a grid, set the line for your scheduler, with the memory your nodes need, e.g.
#   export train_cmd="queue.pl --mem 4G"; export cuda_cmd="queue.pl --gpu 1 --mem 8G"
#   export train_cmd="slurm.pl --mem 4G"; export cuda_cmd="slurm.pl --gpu 1 --mem 8G"

if command -v run.pl > /dev/null 2>&1; then
  export train_cmd="run.pl"
else
  export train_cmd="local/run_log.sh"
fi
# Training uses a GPU when TensorFlow sees one; --gpu 1 only tells a grid runner to ask for it
# (run.pl and local/run_log.sh ignore it). Asked for when this machine's nvidia-smi lists a
# GPU, as path.sh decides which TensorFlow to install; on a grid whose GPUs are on the nodes
# only, set cuda_cmd as shown above.
if nvidia-smi -L 2> /dev/null | grep -q '^GPU '; then
  export cuda_cmd="$train_cmd --gpu 1"
else
  export cuda_cmd="$train_cmd"
fi
