#!/bin/sh
# The include graph between folders: for each source folder, the other
# folders its .c/.h files include (quoted includes only; system headers are
# left out), with the number of include lines behind each edge.
#   ops/tools/layers.sh [REV]   (default: the work tree; REV: any commit)
# A folder is the path up to the file name, so schemas/base counts apart from
# schemas. Layers point down: schemas/base <- schemas <- projector <- ingest <- api.
set -eu
rev=${1:-}
cd "$(git rev-parse --show-toplevel)"
if [ -n "$rev" ]; then
    git grep -n -E '^#include "[a-z_]+/' "$rev" -- 'schemas/*.[ch]' 'projector/*.[ch]' 'ingest/*.[ch]' 'api/*.[ch]' |
        sed -E "s|^$rev:||"
else
    git grep -n -E '^#include "[a-z_]+/' -- 'schemas/*.[ch]' 'projector/*.[ch]' 'ingest/*.[ch]' 'api/*.[ch]'
fi | sed -E 's|^([^:]+)/[^/:]+:[0-9]+:#include "(.+)/[^/"]+".*|\1 \2|' |
    awk '$1 != $2 { n[$1 " -> " $2]++ } END { for (k in n) print k " (" n[k] ")" }' | sort
