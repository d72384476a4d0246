#!/bin/sh
# eval.sh: v-/c-/a-vectors out of the trained models, the five back-ends on each, and the
# results table (with the x-vector rows of baseline.sh) like the paper's Table 1.
#
#   sh eval.sh [--model "ae vae cvae dnf"] [--lda-dim 150] [--pca-dim 150] [--score-norm none] [--stage N] ...
# Vectors: $exp/vectors/<model>/<train-set|set/enroll|set/test>/xvector.{ark,scp} (Kaldi float
# vectors, the code mean mu(x)) with utt2spk and spk2utt, so Kaldi's tools read them directly.
# Paths below are relative to the repository root (as in a Kaldi egs/ dir).
[ -f local/recipe_setup.sh ] && [ -f path.sh ] ||
  { echo "ERROR (eval.sh): run it from the repository root: cd $(dirname "$0") && sh eval.sh ..." >&2; exit 1; }
recipe=eval.sh
stage=0
stop_stage=100          # run stages --stage to --stop-stage, as in Kaldi's recipes
model=                  # default: those of conf/front_ends.tsv that train.sh trained in $exp
analysis=true           # stage 4: Gaussianity table (Table 2), DET plots and score histograms
nj=1                    # parallel jobs for extraction and scoring ($train_cmd, from cmd.sh)
help_message="Usage: sh eval.sh [--stage N] [--stop-stage N] [--exp DIR] [--model \"$(local/names.sh front_ends train.sh)\"] [--lda-dim N] [--pca-dim N] [--score-norm asnorm|none] [--asnorm-top-n N] [--asnorm-cohort-size N] [--data DIR] [--eval-sets \"a b\"] [--nj N]"
# Back-end options (--lda-dim, --pca-dim, --score-norm, ...): conf/backend.sh.
. local/recipe_setup.sh

# The front-ends train.sh makes that are not scored here, each with its reason (its
# train_status, else why not): the results table names them under the table.
missing=$(local/trained_models.sh missing "$exp" "$model") || exit 1
if [ -z "$model" ]; then
  model=$(local/trained_models.sh trained "$exp") || exit 1
  [ -z "$model" ] || echo "$recipe: front-ends trained in $exp: $model" >&2
fi

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  # Also checks that each model is trained, on vectors of the data's dimension.
  local/prepare_data.sh "$data" "$train_set" "$eval_sets" "$exp/log" \
    "$(for fe in $model; do printf '%s ' $exp/$fe; done)" || exit 1
  # Each model must be of this training set; the log and the table's header say which.
  identify_run "$(for fe in $model; do printf '%s ' $exp/$fe; done)" || exit 1
fi
# After the data's checks: bad data is the first thing to hear about.
[ -n "$model" ] || { echo "ERROR ($recipe): $exp: no trained model (run train.sh first)" >&2; exit 1; }

extract() {  # <front-end>: its vectors of the training set and of each evaluation set
  echo "eval.sh: extracting $1 vectors ..." >&2
  pairs=""
  for part in $train_set $(for s in $eval_sets; do echo $s/enroll $s/test; done); do
    pairs="$pairs $data/$part $exp/vectors/$1/$part"
  done
  local/extract_embeddings.sh --nj $nj $exp/$1 $exp/vectors/$1/log/extract.log $pairs
}

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  # The models at the same time (local/tasks.sh): each job streams its tables, and most of
  # a small set's time is TensorFlow's start.
  for fe in $model; do task_start extract $fe; done
  tasks_wait || exit 1
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  for fe in $model; do
    echo "eval.sh: back-ends on $fe vectors ..." >&2
    run_backends_on $fe $exp/vectors/$fe || exit 1
  done
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  make_table --missing "$missing" $(results_of $model) || exit 1
fi

plot_set() {  # <set>: its DET curves and score histograms, one PNG each per back-end
  for b in $(local/names.sh backends); do
    named=""
    for fe in xvector $model; do
      scores=$exp/backend/$fe/$1/scores_$b
      [ -f $scores ] && named="$named $(local/names.sh label $fe)=$scores"
    done
    $train_cmd $plots/log/${1}_$b.log python3 local/analysis/plot_det.py --trials $data/$1/trials \
      --title "$1, $b" --out $plots/det_${1}_$b.png --hist-out $plots/hist_${1}_$b.png \
      $named || return 1
  done
}

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ] && [ "$analysis" = true ]; then
  # Table 2: skewness and kurtosis of each front-end on the training set.
  gauss="python3 local/analysis/gaussianity.py --utt2spk $data/$train_set/utt2spk --out-tsv $exp/results/gaussianity.tsv"
  # One after the other: each holds the whole training set in memory.
  $train_cmd $exp/log/gaussianity_xvector.log $gauss --front-end xvector \
    --vectors $(local/vectors_of.sh $data/$train_set) || exit 1
  for fe in $model; do
    $train_cmd $exp/log/gaussianity_$fe.log $gauss --front-end $fe \
      --vectors scp:$exp/vectors/$fe/$train_set/xvector.scp || exit 1
  done
  echo; echo "Gaussianity of the training set (average over dimensions; $exp/results/gaussianity.md):"
  cat $exp/results/gaussianity.md
  # DET curves and score histograms: one PNG per set and back-end, the front-ends overlaid
  # (x-vectors too when baseline.sh has run); the sets at the same time.
  plots=$exp/results/plots; mkdir -p $plots || exit 1
  for set in $eval_sets; do task_start plot_set $set; done
  tasks_wait || exit 1
  echo "DET curves and score histograms: $plots/{det,hist}_<set>_<backend>.png"
fi
echo "eval.sh: done; table in $exp/results/results.md" >&2
