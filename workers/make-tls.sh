#!/usr/bin/env bash
# Make the TLS files of a dynet Dask cluster: a private CA, and a certificate and key
# each for the scheduler, the workers and the clients (`dynet run`), signed by it.
#   workers/make-tls.sh DIR [HOST ...]
# HOST: the names and addresses the scheduler and workers are reached by, written into
# the certificates (default: 127.0.0.1 localhost). Dask checks that every peer's
# certificate is signed by the CA (both ways), not the host names. Writes
#   DIR/ca.pem (give to everyone)  DIR/ca.key (keep it safe, only for making more)
#   DIR/scheduler.pem, .key   DIR/worker.pem, .key   DIR/client.pem, .key
# then, for example:
#   workers/start-scheduler.sh --tls-ca-file DIR/ca.pem --tls-cert DIR/scheduler.pem --tls-key DIR/scheduler.key
#   workers/start-worker.sh --tls-ca-file DIR/ca.pem --tls-cert DIR/worker.pem --tls-key DIR/worker.key tls://127.0.0.1:8786
#   dynet run S.toml --scheduler tls://127.0.0.1:8786 --tls-ca-file DIR/ca.pem --tls-cert DIR/client.pem --tls-key DIR/client.key
set -euo pipefail
(($# >= 1)) || { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
dir="$1"; shift
(($#)) || set -- 127.0.0.1 localhost
san=""
for h in "$@"; do
  if [[ "$h" =~ ^[0-9.]+$ || "$h" == *:* ]]; then san+="${san:+,}IP:$h"; else san+="${san:+,}DNS:$h"; fi
done
days=825
mkdir -p "$dir"
umask 077
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
if [[ ! -f "$dir/ca.pem" ]]; then
  key "$dir/ca.key"
  openssl req -x509 -new -key "$dir/ca.key" -sha256 -days 3650 -subj "/CN=dynet cluster CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" -out "$dir/ca.pem"
fi
ext="$(mktemp)"; csr="$(mktemp)"
trap 'rm -f "$ext" "$csr"' EXIT
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
  "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$san" \
  "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" > "$ext"
for role in scheduler worker client; do
  key "$dir/$role.key"
  openssl req -new -key "$dir/$role.key" -subj "/CN=dynet $role" -out "$csr"
  openssl x509 -req -in "$csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -sha256 -days "$days" \
    -extfile "$ext" -out "$dir/$role.pem" 2>/dev/null
done
chmod 644 "$dir"/*.pem
rm -f "$dir/ca.srl"
echo "TLS files in $dir: ca.pem; scheduler, worker and client .pem/.key (hosts: $*)"
