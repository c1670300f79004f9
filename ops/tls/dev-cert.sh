#!/bin/sh
# A self-signed certificate for development: DIR/dev.crt and DIR/dev.key
# (P-256, valid one year, for localhost and 127.0.0.1), made once: existing
# files are kept. `make run TLS=1` calls it with the data directory.
#   ops/tls/dev-cert.sh DIR
set -eu
dir=${1:?usage: ops/tls/dev-cert.sh DIR}
mkdir -p "$dir"
if [ -s "$dir/dev.crt" ] && [ -s "$dir/dev.key" ]; then
    exit 0
fi
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/dev.key" -out "$dir/dev.crt" -days 365 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
echo "made a self-signed certificate: $dir/dev.crt (trust it with curl --cacert $dir/dev.crt)" >&2
