"""The front-end and back-end names of conf/front_ends.tsv and conf/backends.tsv, for Python
(local/names.sh reads the same files for the shell scripts).

  front_ends()  [(name, label), ...] in the tables' order: xvector x-vector, ae a-vector, ...
  backends()    [(name, label), ...] in the tables' order: cosine Cosine, ...
  backend_steps()  [(name, projection, scorer), ...]: plda none plda, lda_plda lda plda, ...
"""
import os

CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'conf')


def read_rows(kind):
    """The tab-separated rows of conf/<kind>.tsv, comments and blank lines left out."""
    with open(os.path.join(CONF, kind + '.tsv')) as f:
        return [line.rstrip('\n').split('\t') for line in f if line.strip() and not line.startswith('#')]


def front_ends():
    return [(row[0], row[1]) for row in read_rows('front_ends')]


def backends():
    return [(row[0], row[1]) for row in read_rows('backends')]


def backend_steps():
    """[(name, projection, scorer), ...]: how each back-end is computed (none|lda|pca,
    cosine|plda), as local/score_backends.sh does it."""
    return [(row[0], row[2], row[3]) for row in read_rows('backends')]
