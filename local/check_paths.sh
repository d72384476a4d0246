#!/bin/sh
# Refuse paths a shell could misread before a recipe does any work:
#   local/check_paths.sh <tool> <path> [<path> ...]
# One line, naming the path and the character, and exit 1 on the first path with a
# character outside letters, digits and . _ - / + , = @ : % (white space, $ ` ; & | ' " * ?
# [ ] ( ) < > { } ~ ! # \ and any byte outside ASCII are all refused).
#
# Why refuse instead of quoting: the recipes hand their data and exp paths to Kaldi's tools
# inside rspecifiers such as "ark:ivector-subtract-global-mean scp:<dir>/xvector.scp ark:- |",
# which the tools (Kaldi's and ours alike) run through the shell, and Kaldi's run.pl joins a
# job's words into a shell line too. Kaldi gives no way to quote inside an rspecifier, so a
# '$(...)' in a path would run and a space would split it. Keys inside the tables are data
# and never reach a shell: any character is fine there.
tool=$1; shift
for path in "$@"; do
  case $path in
    *[!A-Za-z0-9._/+,=@:%-]*)
      bad=$(printf '%s' "$path" | LC_ALL=C tr -d 'A-Za-z0-9._/+,=@:%-' | cut -c 1)
      case $bad in
        ' ') bad='white space (a space)' ;;
        "$(printf '\t')") bad='white space (a tab)' ;;
        '') bad='white space (a newline)' ;;   # cut's line ends at the newline
        *) bad="'$bad'" ;;
      esac
      echo "ERROR ($tool): '$path': path contains $bad, which a shell would interpret (Kaldi's rspecifier pipes and run.pl go through one); use only letters, digits and . _ - / + , = @ : % (a symlink will do)" >&2
      exit 1 ;;
  esac
done
exit 0
