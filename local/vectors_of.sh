#!/bin/sh
# Print the rspecifier of a data dir's vectors: scp:<dir>/xvector.scp, else ark:<dir>/xvector.ark.
if [ -f "$1/xvector.scp" ]; then echo "scp:$1/xvector.scp"
elif [ -f "$1/xvector.ark" ]; then echo "ark:$1/xvector.ark"
else echo "ERROR (vectors_of.sh): $1 has neither xvector.scp nor xvector.ark" >&2; exit 1
fi
