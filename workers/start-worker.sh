#!/usr/bin/env bash
# Start dynet workers on this machine: one single-threaded worker process per core.
#   workers/start-worker.sh tcp://SCHEDULER:8786 [N_WORKERS] [HOST]
# Numba kernels are serial, so one process per core fills the machine; pinning
# NUMBA/BLAS threads to 1 keeps the processes from oversubscribing the cores.
# The dynet worker plugin (registered by `dynet run`) compiles the kernels before
# the first task. The store path given to `dynet run --store` must be visible here.
set -euo pipefail
scheduler="${1:?usage: start-worker.sh tcp://SCHEDULER:8786 [N_WORKERS] [HOST]}"
n="${2:-$(nproc)}"
host="${3:-127.0.0.1}"
export NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
exec dask worker "$scheduler" --nworkers "$n" --nthreads 1 --host "$host" --no-dashboard
