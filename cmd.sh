# How parallel jobs are run, in Kaldi's convention; sourced by the scripts that start
# Kaldi jobs (local/extract_xvectors.sh), and overridden by their --cmd option.
#
# run.pl, queue.pl and slurm.pl are Kaldi's own job runners, found in
# $KALDI_ROOT/egs/wsj/s5/utils (our scripts put that dir on PATH while Kaldi runs):
#   run.pl    runs the jobs on this machine, several at a time;
#   queue.pl  submits them to Grid Engine (options in conf/queue.conf if present);
#   slurm.pl  submits them to SLURM (options in conf/slurm.conf if present).
# On a grid, comment out the local line and set the one for your scheduler, with the
# memory your nodes need, e.g. export train_cmd="queue.pl --mem 4G".

export train_cmd="run.pl"
# export train_cmd="queue.pl --mem 4G"
# export train_cmd="slurm.pl --mem 4G"
