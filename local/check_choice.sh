#!/bin/sh
# Refuse an option value that is not one of its choices, with one line naming the script:
#   local/check_choice.sh <script> <--option> <value> <choice>...
# (local/parse_options.sh checks booleans itself; this is for the other closed sets.)
script=$1; option=$2; value=$3; shift 3
for choice in "$@"; do [ "$value" = "$choice" ] && exit 0; done
echo "ERROR ($script): $option must be $(echo "$*" | sed 's/ \([^ ]*\)$/ or \1/; s/ \([^ ]*\) or/, \1 or/g'), got '$value'" >&2
exit 1
