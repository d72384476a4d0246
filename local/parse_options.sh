# Kaldi-style command-line options for our recipes; source it after setting defaults.
#
#   sh train.sh --epochs 20 --kl-weight=0.5 --model "vae cvae"
#
# Each --name value (or --name=value) sets the shell variable `name`, with dashes
# read as underscores. Only variables the recipe already defines may be set, so a
# typo is an error rather than a silently ignored option. --config FILE sources a
# file of variable assignments first. An option whose default is true or false only takes
# true or false. Positional arguments are left in "$@".

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      echo "${help_message:-Usage: see the variables at the top of $0}" >&2
      exit 0 ;;
    --*=*)
      vv_opt_name=${1%%=*}; vv_opt_value=${1#*=}; shift ;;
    --*)
      if [ $# -lt 2 ]; then
        echo "ERROR ($0): option $1 needs a value" >&2; exit 1
      fi
      vv_opt_name=$1; vv_opt_value=$2; shift 2 ;;
    *)
      break ;;
  esac
  vv_opt_var=$(printf '%s' "${vv_opt_name#--}" | tr '-' '_')
  case "$vv_opt_var" in
    ''|[0-9]*|*[!A-Za-z0-9_]*)
      echo "ERROR ($0): invalid option name $vv_opt_name" >&2; exit 1 ;;
  esac
  if [ "$vv_opt_var" = config ]; then
    [ -f "$vv_opt_value" ] || { echo "ERROR ($0): config file $vv_opt_value not found" >&2; exit 1; }
    . "$vv_opt_value"
    continue
  fi
  if eval "[ -z \"\${$vv_opt_var+set}\" ]"; then
    echo "ERROR ($0): unknown option $vv_opt_name (no variable '$vv_opt_var' in this recipe)" >&2
    exit 1
  fi
  # A variable whose default is true or false is a boolean: like Kaldi's parse_options.sh,
  # refuse any other value rather than let a typo ("yes") silently switch a stage off.
  eval "vv_opt_old=\$$vv_opt_var"
  case "$vv_opt_old" in
    true|false)
      case "$vv_opt_value" in
        true|false) ;;
        *) echo "ERROR ($0): option $vv_opt_name is boolean: expected true or false, got '$vv_opt_value'" >&2
           exit 1 ;;
      esac ;;
  esac
  eval "$vv_opt_var=\$vv_opt_value"
done
unset vv_opt_name vv_opt_value vv_opt_var vv_opt_old
