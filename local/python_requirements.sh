#!/bin/sh
# The Python requirements for this machine: requirements.txt with the TensorFlow build
# chosen (path.sh installs them; run it alone to see what would be installed).
#
#   local/python_requirements.sh [--why] [requirements.txt]
#
# VV_TF=gpu      TensorFlow with its CUDA libraries: tensorflow[and-cuda], same version;
# VV_TF=cpu      the CPU wheel, requirements.txt as it is;
# VV_TF=auto     (or unset) gpu when `nvidia-smi -L` lists a GPU, else cpu.
# Prints the requirement lines, or with --why one line saying which build and why.
why=false
if [ "$1" = --why ]; then why=true; shift; fi
req=${1:-requirements.txt}

case ${VV_TF:-auto} in
  gpu|cpu) build=$VV_TF; reason="VV_TF=$VV_TF" ;;
  auto)
    if nvidia-smi -L 2> /dev/null | grep -q '^GPU '; then
      build=gpu; reason="nvidia-smi lists a GPU"
    else
      build=cpu; reason="no GPU listed by nvidia-smi"
    fi ;;
  *) echo "ERROR (path.sh): VV_TF must be gpu, cpu or auto, not '$VV_TF'" >&2; exit 1 ;;
esac

# One version for both builds: the CPU wheel's pin.
version=$(sed -n 's/^tensorflow-cpu==\([^;[:space:]]*\).*/\1/p' "$req")
if [ -z "$version" ]; then
  echo "ERROR (path.sh): $req: no 'tensorflow-cpu==<version>' line" >&2; exit 1
fi

if $why; then
  if [ $build = gpu ]; then
    echo "TensorFlow $version with CUDA (tensorflow[and-cuda]; $reason)"
  else
    echo "TensorFlow $version for the CPU ($reason; VV_TF=gpu installs the CUDA build)"
  fi
elif [ $build = gpu ]; then
  # The CUDA build is the full `tensorflow` package on every platform: both pinned
  # TensorFlow lines give way to it.
  grep -v '^tensorflow\(-cpu\)\{0,1\}==' "$req"
  echo "tensorflow[and-cuda]==$version"
else
  cat "$req"
fi
