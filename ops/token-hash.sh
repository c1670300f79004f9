#!/bin/sh
# Print the tokens-file line of a bearer token: execlogd keeps only the
# SHA-256 of each token (auth.tokens, see ops/tokens.example).
#   ops/token-hash.sh TOKEN [TENANT|*] [reader|writer|admin]
#   ops/token-hash.sh --new [TENANT|*] [ROLE]   # make a random token, print it and its line
# Prefer --new, or read the token from a file, over typing it on a shared shell.
set -eu
if [ $# -lt 1 ]; then
    sed -n 's/^# \{0,1\}//p' "$0" | sed -n '2,5p' >&2
    exit 2
fi
if [ "$1" = "--new" ]; then
    token=$(openssl rand -hex 32)
    echo "token: $token" >&2
else
    token=$1
fi
tenant=${2:-*}
role=${3:-reader}
case $role in reader|writer|admin) ;; *) echo "role must be reader, writer or admin" >&2; exit 2 ;; esac
hash=$(printf '%s' "$token" | openssl dgst -sha256 -r | cut -d' ' -f1)
printf '%s %s %s\n' "$hash" "$tenant" "$role"
