#!/bin/sh
# The front-ends train.sh makes (conf/front_ends.tsv), by their state in an exp dir:
#   local/trained_models.sh trained <exp>             those trained: train.sh wrote "trained" in
#                                                    <exp>/<model>/train_status (a model dir
#                                                    with a checkpoint and no status, trained
#                                                    by model.train itself, counts too)
#   local/trained_models.sh missing <exp> "<models>"  one line "<model>: <why>" for each one not
#                                                    trained, or not in <models> when given
if [ $# -lt 2 ] || { [ "$1" != trained ] && [ "$1" != missing ]; }; then
  echo "Usage: $0 trained <exp> | missing <exp> [\"<models>\"]" >&2; exit 1
fi
what=$1; exp=$2; chosen=${3:-}
for m in $(local/names.sh front_ends train.sh); do
  status=$exp/$m/train_status
  if [ -f $status ]; then state=$(head -n 1 $status)
  elif [ -f $exp/$m/checkpoint ]; then state=trained
  else state="not trained (no $exp/$m)"
  fi
  if [ $what = trained ]; then
    [ "$state" = trained ] && printf '%s ' $m
  elif [ -n "$chosen" ]; then
    case " $chosen " in *" $m "*) ;; *) echo "$m: not in --model" ;; esac
  elif [ "$state" != trained ]; then
    echo "$m: $state"
  fi
done | sed 's/ $//'
