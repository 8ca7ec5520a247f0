#!/usr/bin/env bash
# Start dynet workers on this machine: one single-threaded worker process per core.
#   workers/start-worker.sh [OPTIONS] SCHEDULER [N_WORKERS] [HOST]
# SCHEDULER is tcp://HOST:PORT (or tls://HOST:PORT with the TLS options). HOST is the
# address this machine's workers listen on and are reached by (default 127.0.0.1);
# every listener binds to it only: workers, nannies and their HTTP servers.
# Numba kernels are serial, so one process per core fills the machine; pinning
# NUMBA/BLAS threads to 1 keeps the processes from oversubscribing the cores.
# The dynet worker plugin (registered by `dynet run`) compiles the kernels once per
# worker process. The store path given to `dynet run --store` must be visible here.
# If the workers stop (the scheduler went away and did not come back within
# --death-timeout), they are started again after a pause, until this script is
# stopped (Ctrl-C or SIGTERM).
# Options:
#   --tls-ca-file FILE --tls-cert FILE --tls-key FILE   TLS (workers/make-tls.sh)
#   --dashboard          serve each worker's dashboard (needs bokeh) on HOST, free ports
#   --death-timeout S    seconds a worker waits for a missing scheduler (default 60)
#   --no-restart         run once: do not start the workers again when they stop
set -euo pipefail
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
tls=() dashboard=--no-dashboard death=60 restart=1 args=()
while (($#)); do
  case "$1" in
    --tls-ca-file|--tls-cert|--tls-key) (($# >= 2)) || usage; tls+=("$1" "$2"); shift 2 ;;
    --dashboard) dashboard=--dashboard; shift ;;
    --death-timeout) (($# >= 2)) || usage; death="$2"; shift 2 ;;
    --no-restart) restart=0; shift ;;
    -h|--help) usage ;;
    -*) echo "start-worker.sh: unknown option $1" >&2; usage ;;
    *) args+=("$1"); shift ;;
  esac
done
((${#args[@]} >= 1 && ${#args[@]} <= 3)) || usage
scheduler="${args[0]}"
n="${args[1]:-$(nproc)}"
host="${args[2]:-127.0.0.1}"
http_host="$host"; [[ "$host" == *:* ]] && http_host="[$host]"   # an IPv6 address
export NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
cmd=(dask worker "$scheduler" --nworkers "$n" --nthreads 1 --host "$host"
     "$dashboard" --dashboard-address "$http_host:0" --death-timeout "$death" ${tls[@]+"${tls[@]}"})
((restart)) || exec "${cmd[@]}"

child=""
stop() { [[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null && wait "$child"; exit 0; }
trap stop INT TERM
while true; do
  "${cmd[@]}" &
  child=$!
  wait "$child" || true
  child=""
  echo "start-worker.sh: the workers stopped; starting them again in 5 s" >&2
  sleep 5 &
  wait $! || true
done
