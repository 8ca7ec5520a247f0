#!/usr/bin/env bash
# Start a Dask scheduler for `dynet run --scheduler`.
#   workers/start-scheduler.sh [OPTIONS] [HOST] [PORT]
# HOST defaults to 127.0.0.1 (this machine only); give the address other machines
# reach it by (e.g. the cluster's private interface) to accept remote workers.
# PORT defaults to 8786. Every listener binds to HOST only, the HTTP one included.
# Options:
#   --tls-ca-file FILE --tls-cert FILE --tls-key FILE
#                      serve TLS only (tls://HOST:PORT); clients and workers need a
#                      certificate signed by the same CA (workers/make-tls.sh makes them)
#   --dashboard        serve the dashboard (needs bokeh) on HOST:8787
#   --http-port N      port of the HTTP server (dashboard, /health, /metrics);
#                      default 8787 with --dashboard, else a free port
set -euo pipefail
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
tls=() dashboard=--no-dashboard http_port="" args=()
while (($#)); do
  case "$1" in
    --tls-ca-file|--tls-cert|--tls-key) (($# >= 2)) || usage; tls+=("$1" "$2"); shift 2 ;;
    --dashboard) dashboard=--dashboard; shift ;;
    --http-port) (($# >= 2)) || usage; http_port="$2"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "start-scheduler.sh: unknown option $1" >&2; usage ;;
    *) args+=("$1"); shift ;;
  esac
done
((${#args[@]} <= 2)) || usage
host="${args[0]:-127.0.0.1}"
port="${args[1]:-8786}"
[[ -n "$http_port" ]] || { [[ "$dashboard" == --dashboard ]] && http_port=8787 || http_port=0; }
http_host="$host"; [[ "$host" == *:* ]] && http_host="[$host]"   # an IPv6 address
protocol=tcp; ((${#tls[@]})) && protocol=tls
exec dask scheduler --host "$host" --port "$port" --protocol "$protocol" ${tls[@]+"${tls[@]}"} \
  "$dashboard" --dashboard-address "$http_host:$http_port"
