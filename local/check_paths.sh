#!/bin/sh
# Refuse paths with white space before a recipe does any work:
#   local/check_paths.sh <tool> <path> [<path> ...]
# One line, naming the path, and exit 1 on the first that has a space, tab or newline.
#
# Why refuse instead of quoting: the recipes hand their data and exp paths to Kaldi's tools
# inside rspecifiers such as "ark:ivector-subtract-global-mean scp:<dir>/xvector.scp ark:- |",
# which the tools (Kaldi's and ours alike) run through the shell, where the path splits into
# words. Kaldi gives no way to quote inside an rspecifier, and its own egs/ scripts (utils/,
# sid/) assume paths without spaces too, so a quoted recipe would still break a step later.
tool=$1; shift
for path in "$@"; do
  case $path in
    *[[:space:]]*)
      echo "ERROR ($tool): '$path': path contains white space, which Kaldi rspecifiers cannot hold; use a path without spaces (a symlink will do)" >&2
      exit 1 ;;
  esac
done
exit 0
