# Where the recipes find their data: one place, sourced by baseline.sh, train.sh and
# eval.sh before their options are parsed, so each path can be overridden on the
# command line (e.g. --data data/sitw --eval-sets "sitw_dev sitw_eval").
#
# Layout (Kaldi data dirs):
#   $data/train/{xvector.scp|xvector.ark, utt2spk, spk2utt}
#   $data/<set>/enroll/{xvector.scp|xvector.ark, utt2spk, spk2utt}   spk2utt: model -> utterances
#   $data/<set>/test/{xvector.scp|xvector.ark, utt2spk, spk2utt}
#   $data/<set>/trials                                             model test-utt target|nontarget
# For a Kaldi egs tree (data/<name> + exp/xvectors_<name>), local/import_kaldi_sets.sh builds
# this layout from it without copying the vectors; from audio data dirs and a Kaldi x-vector
# network, local/prepare_from_audio.sh makes the features and x-vectors and then this layout.
data=data/demo
train_set=train                 # the training dir under $data
eval_sets="sitw_dev sitw_eval"  # the evaluation dirs under $data
exp=                            # models, vectors, scores, logs and results; default: exp/<name of
                                # the data dir> (data/demo -> exp/demo), so two sets never share models
