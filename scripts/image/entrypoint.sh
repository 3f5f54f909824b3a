#!/bin/sh
# The image's entrypoint (run under tini, PID 1): `api`, `worker` or `operator` starts that program
# from the compiled output; exec, so the program itself receives SIGTERM from tini.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
case "${1:-}" in
  api) shift; exec node "$here/dist/api/main.js" "$@" ;;
  worker) shift; exec node "$here/dist/worker/main.js" "$@" ;;
  operator) shift; exec node "$here/dist/operator/main.js" "$@" ;;
  *)
    echo "usage: jetq api | worker | operator (got: '${1:-}')" >&2
    exit 64
    ;;
esac
