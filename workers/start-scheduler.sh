#!/usr/bin/env bash
# Start a Dask scheduler for `dynet run --scheduler`.
#   workers/start-scheduler.sh [HOST] [PORT]
# HOST defaults to 127.0.0.1 (this machine only); give the address other machines
# reach it by (e.g. the cluster's private interface) to accept remote workers.
set -euo pipefail
host="${1:-127.0.0.1}"
port="${2:-8786}"
exec dask scheduler --host "$host" --port "$port" --no-dashboard
