# The back-end options of baseline.sh and eval.sh: one place, sourced by both (through
# local/recipe_setup.sh) before their options are parsed, so each can be overridden on the
# command line (e.g. --lda-dim 200 --score-norm none). The back-ends themselves are listed
# in conf/backends.tsv.
lda_dim=150
pca_dim=150
lda_total_covariance_factor=0.0
score_norm=none         # the paper's table; asnorm: also every back-end with AS-norm (local/analysis/score_norm.py)
asnorm_top_n=300        # AS-norm: cohort scores per side in the statistics
asnorm_cohort_size=3000 # AS-norm: training utterances in the PLDA back-ends' cohort
