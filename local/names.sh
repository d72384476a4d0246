#!/bin/sh
# The front-end and back-end names of conf/front_ends.tsv and conf/backends.tsv, for the
# shell scripts (local/names.py reads the same files for Python):
#   local/names.sh front_ends [<recipe>]   xvector ae vae cvae dnf (only those <recipe> makes)
#   local/names.sh backends [<scorer>]     cosine pca_cosine ... (only those scored by <scorer>)
#   local/names.sh label <name>            a front-end's or back-end's label (x-vector, PLDA, ...)
#   local/names.sh projection <backend>    none, lda or pca
#   local/names.sh scorer <backend>        cosine or plda
# Lists are printed on one line, separated by spaces, in the files' order.
conf=$(dirname "$0")/../conf
rows() {  # <file> <want> <awk program>: the program on the file's rows (no comments, no blanks)
  awk -F '\t' -v want="$2" '/^#/ || NF == 0 { next } '"$3" "$conf/$1.tsv"
}
list='{ printf "%s%s", sep, $1; sep = " " } END { print "" }'
case "$1 $#" in
  "front_ends 1") rows front_ends '' "$list" ;;
  "front_ends 2") rows front_ends "$2" '$3 == want '"$list" ;;
  "backends 1") rows backends '' "$list" ;;
  "backends 2") rows backends "$2" '$4 == want '"$list" ;;
  "label 2")
    { rows front_ends '' '{ print }' && rows backends '' '{ print }'; } |
      awk -F '\t' -v want="$2" '$1 == want { label = $2 } END { print (label == "" ? want : label) }' ;;
  "projection 2"|"scorer 2")
    [ $1 = projection ] && column=3 || column=4
    rows backends "$2" '$1 == want { print $'$column'; found = 1 } END { exit !found }' ||
      { echo "ERROR (names.sh): $conf/backends.tsv: no back-end '$2'" >&2; exit 1; } ;;
  *) echo "Usage: $0 front_ends [<recipe>] | backends [<scorer>] | label <name> | projection|scorer <backend>" >&2
     exit 1 ;;
esac
