#!/bin/sh
# The front-ends train.sh makes (conf/front_ends.tsv: by default, or as an option), by their
# state in an exp dir:
#   local/trained_models.sh trained <exp>             those trained: train.sh wrote "trained" in
#                                                    <exp>/<model>/train_status (a model dir
#                                                    with a checkpoint and no status, trained
#                                                    by model.train itself, counts too)
#   local/trained_models.sh missing <exp> "<models>"  one line "<model>: <why>" for each default
#                                                    one not trained and each option that
#                                                    failed, or not in <models> when given
if [ $# -lt 2 ] || { [ "$1" != trained ] && [ "$1" != missing ]; }; then
  echo "Usage: $0 trained <exp> | missing <exp> [\"<models>\"]" >&2; exit 1
fi
what=$1; exp=$2; chosen=${3:-}
defaults=$(local/names.sh front_ends train.sh) || exit 1
options=$(local/names.sh front_ends option) || exit 1
for m in $defaults $options; do
  status=$exp/$m/train_status
  absent="not trained (no $exp/$m)"
  if [ -f $status ]; then state=$(head -n 1 $status)
  elif [ -f $exp/$m/checkpoint ]; then state=trained
  else state=$absent
  fi
  if [ $what = trained ]; then
    [ "$state" = trained ] && printf '%s ' $m
    continue
  fi
  if [ -n "$chosen" ]; then
    case " $chosen " in *" $m "*) continue ;; esac
    why="not in --model"
  else
    [ "$state" = trained ] && continue
    why=$state
  fi
  # An option (conf/front_ends.tsv) that was never trained is not missing.
  case " $defaults " in *" $m "*) echo "$m: $why" ;; *) [ "$state" = "$absent" ] || echo "$m: $why" ;; esac
done | sed 's/ $//'
