# The start shared by baseline.sh and eval.sh. Source it after the recipe's own defaults,
# with $recipe set to the recipe's name:
#   recipe=eval.sh; stage=0; ...; . local/recipe_setup.sh
# It sources path.sh, cmd.sh, conf/data.sh and conf/backend.sh, parses the options (the
# default --exp follows --data: exp/<name of the data dir>), refuses
# paths with white space and takes the lock on $exp (one run at a time). It also defines
# run_backends_on, the back-end stage of both recipes, and identify_run / make_table, which
# stamp every row of the results table with the data and models it was made from; and
# (local/tasks.sh) task_start / tasks_wait, for steps run at the same time.
. ./path.sh || exit 1
. ./cmd.sh
. conf/data.sh
. conf/backend.sh
. local/parse_options.sh || exit 1
exp=${exp:-exp/$(basename "$data")}
local/check_choice.sh $recipe --score-norm "$score_norm" none asnorm || exit 1
. local/lock.sh
. local/tasks.sh
# Paths first: a refused path must not leave a lock file behind.
local/check_paths.sh $recipe "$data" "$exp" && take_lock $exp $recipe || exit 1
echo "$recipe: engine for back-end tools: $VV_ENGINE" >&2

run_backends_on() {  # <front-end> <vector-root>: back-ends in $exp/backend/<front-end>, scored on each set
  # <vector-root>/$train_set and <vector-root>/<set>/{enroll,test} hold the front-end's vectors;
  # rows of the results table go to $exp/backend/<front-end>/<set>/results.tsv.
  [ $score_norm = asnorm ] && cohort=true || cohort=false
  local/train_backends.sh --lda-dim $lda_dim --pca-dim $pca_dim --cohort $cohort --cohort-size $asnorm_cohort_size \
    --lda-total-covariance-factor $lda_total_covariance_factor $2/$train_set $exp/backend/$1 || return 1
  # The sets at the same time (local/tasks.sh): each writes only its own dir.
  for set in $eval_sets; do task_start score_set $1 $2 $set; done
  tasks_wait
}

score_set() {  # <front-end> <vector-root> <set>: its scores, then its rows of the results table
  local/score_backends.sh --nj $nj --score-norm $score_norm --top-n $asnorm_top_n $exp/backend/$1 \
    $2/$3/enroll $2/$3/test $data/$3/trials $exp/backend/$1/$3 || return 1
  local/compute_metrics.sh --score-norm $score_norm $1 $3 $data/$3/trials $exp/backend/$1/$3 \
    $exp/backend/$1/$3/results.tsv
}

run_identity=$exp/identity/${recipe%.sh}.json
identify_run() {  # "<model dirs>": what this run's rows are made from, checked and shown
  # (the training set, each evaluation set, each model's training set and checkpoint).
  ${train_cmd:-local/run_log.sh} $exp/log/identity_${recipe%.sh}.log python3 -m data_utils.set_identity run \
    --data "$data" --train-set "$train_set" --eval-sets "$eval_sets" --models "$1" \
    --out $run_identity || return 1
  sed -n 's/^[^#]/  &/p' $exp/log/identity_${recipe%.sh}.log >&2
}

make_table() {  # <results.tsv>...: merged into $exp/results, rows of other data or models dropped
  [ -f $run_identity ] || { echo "ERROR ($recipe): $run_identity: missing; run stage 0 first" >&2; return 1; }
  python3 local/analysis/results_table.py --table-dir $exp/results --identity $run_identity \
    --train-dir "$data/$train_set" "$@"
}

results_of() {  # <front-end>...: the results.tsv files run_backends_on wrote for them
  for fe in "$@"; do for set in $eval_sets; do printf '%s ' $exp/backend/$fe/$set/results.tsv; done; done
}
