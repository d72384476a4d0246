# Kaldi-style command-line options for our recipes; source it after setting defaults.
#
#   sh train.sh --epochs 20 --kl-weight=0.5 --model "vae cvae"
#   sh train.sh --config conf/paper.conf --epochs 50
#
# Each --name value (or --name=value) sets the shell variable `name`, with dashes
# read as underscores. Only variables the recipe already defines may be set, so a
# typo is an error rather than a silently ignored option. An option whose default is
# true or false only takes true or false. Positional arguments are left in "$@".
#
# --config FILE reads a file of options, one `--name value` or `--name=value` a line
# (blank lines and # comments allowed; a value may be quoted: --model "vae cvae"). As in
# Kaldi's utils/parse_options.sh, config files are applied first, left to right, and the
# options on the command line then override them wherever they stand. Unlike Kaldi's, which
# sources the file as shell code, each line goes through the same checks as a command-line
# option: an option the recipe does not have is an error naming the file and line.

# vv_set_option NAME VALUE WHERE: set the recipe variable of option NAME (--foo-bar) to VALUE
# after the checks; WHERE ("file: line N: ", or empty) starts each error message.
vv_set_option() {
  vv_opt_var=$(printf '%s' "${1#--}" | tr '-' '_')
  case "$vv_opt_var" in
    ''|[0-9]*|*[!A-Za-z0-9_]*)
      echo "ERROR ($0): $3invalid option name $1" >&2; exit 1 ;;
  esac
  if eval "[ -z \"\${$vv_opt_var+set}\" ]"; then
    echo "ERROR ($0): $3unknown option $1 (no variable '$vv_opt_var' in this recipe)" >&2
    exit 1
  fi
  # A variable whose default is true or false is a boolean: like Kaldi's parse_options.sh,
  # refuse any other value rather than let a typo ("yes") silently switch a stage off.
  eval "vv_opt_old=\$$vv_opt_var"
  case "$vv_opt_old" in
    true|false)
      case "$2" in
        true|false) ;;
        *) echo "ERROR ($0): $3option $1 is boolean: expected true or false, got '$2'" >&2
           exit 1 ;;
      esac ;;
  esac
  # Values reach shells (run.pl's job lines, the pipes inside Kaldi rspecifiers): refuse any
  # character a shell would interpret, rather than run what it says (local/check_paths.sh).
  case "$2" in
    *[!A-Za-z0-9\ ._/+,=@:%-]*)
      vv_opt_bad=$(printf '%s' "$2" | LC_ALL=C tr -d 'A-Za-z0-9 ._/+,=@:%-' | cut -c 1)
      [ -n "$vv_opt_bad" ] || vv_opt_bad='a tab or newline'
      echo "ERROR ($0): $3option $1 '$2': has the character '$vv_opt_bad', which a shell would interpret; use only letters, digits, space and . _ - / + , = @ : %" >&2
      exit 1 ;;
  esac
  eval "$vv_opt_var=\$2"
}

# vv_read_config FILE: apply each option line of FILE through vv_set_option.
vv_read_config() {
  [ -f "$1" ] && [ -r "$1" ] || { echo "ERROR ($0): $1: config file not found" >&2; exit 1; }
  vv_cfg_line_no=0
  while IFS= read -r vv_cfg_line || [ -n "$vv_cfg_line" ]; do
    vv_cfg_line_no=$((vv_cfg_line_no + 1))
    vv_cfg_where="$1: line $vv_cfg_line_no: "
    vv_cfg_line=${vv_cfg_line#"${vv_cfg_line%%[![:space:]]*}"}          # leading blanks
    case "$vv_cfg_line" in \#*) vv_cfg_line= ;; esac                    # a comment line
    vv_cfg_line=${vv_cfg_line%%[[:space:]]\#*}                          # a trailing comment
    vv_cfg_line=${vv_cfg_line%"${vv_cfg_line##*[![:space:]]}"}          # trailing blanks
    [ -n "$vv_cfg_line" ] || continue
    vv_cfg_name=${vv_cfg_line%%[=[:space:]]*}
    vv_cfg_value=${vv_cfg_line#"$vv_cfg_name"}
    case "$vv_cfg_name" in
      --config) echo "ERROR ($0): ${vv_cfg_where}--config inside a config file" >&2; exit 1 ;;
      --?*) ;;
      *) echo "ERROR ($0): ${vv_cfg_where}expected --name value or --name=value, got '$vv_cfg_line'" >&2
         exit 1 ;;
    esac
    [ -n "$vv_cfg_value" ] || { echo "ERROR ($0): ${vv_cfg_where}option $vv_cfg_name needs a value" >&2; exit 1; }
    vv_cfg_value=${vv_cfg_value#?}                                      # the = or first blank
    vv_cfg_value=${vv_cfg_value#"${vv_cfg_value%%[![:space:]]*}"}
    case "$vv_cfg_value" in
      \"*\"|\'*\') vv_cfg_value=${vv_cfg_value#?}; vv_cfg_value=${vv_cfg_value%?} ;;
    esac
    vv_set_option "$vv_cfg_name" "$vv_cfg_value" "$vv_cfg_where"
  done < "$1"
}

# Config files first: walk the options as the loop below does (stopping at the first
# positional argument) and apply each --config.
vv_opt_skip=false; vv_opt_config_next=false
for vv_arg in "$@"; do
  if $vv_opt_config_next; then vv_read_config "$vv_arg"; vv_opt_config_next=false; continue; fi
  if $vv_opt_skip; then vv_opt_skip=false; continue; fi
  case "$vv_arg" in
    --config) vv_opt_config_next=true ;;
    --config=*) vv_read_config "${vv_arg#--config=}" ;;
    --help|-h|--*=*) ;;
    --*) vv_opt_skip=true ;;
    *) break ;;
  esac
done

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
  [ "$vv_opt_name" = --config ] && continue   # applied above
  vv_set_option "$vv_opt_name" "$vv_opt_value" ""
done
unset vv_opt_name vv_opt_value vv_opt_var vv_opt_old vv_opt_bad vv_opt_skip vv_opt_config_next vv_arg \
  vv_cfg_line vv_cfg_line_no vv_cfg_where vv_cfg_name vv_cfg_value
unset -f vv_set_option vv_read_config
