#!/usr/bin/env bash
# Run the tinyftpd benchmark (see benches/ftp_bench.rs).
#
#   scripts/bench.sh                    # full run, tinyftpd only
#   scripts/bench.sh --quick            # fast sanity run (64 MiB, 100 transfers/conn, 200 idle)
#   scripts/bench.sh --compare vsftpd   # also benchmark vsftpd (apt-get install -y vsftpd)
#   scripts/bench.sh --only retr-big,list
#
# Everything runs on 127.0.0.1. vsftpd is started by the bench itself, as root, with a
# generated config; a system vsftpd service is not needed (nor touched).
# TINYFTPD_BIN=path overrides the server binary (default: the release build cargo makes).
set -euo pipefail
cd "$(dirname "$0")/.."
want=4096
if [ "$(ulimit -n)" -lt "$want" ]; then
    ulimit -n "$want" 2>/dev/null || echo "warning: ulimit -n is $(ulimit -n); the idle test needs ~1200 fds" >&2
fi
exec cargo bench --bench ftp_bench -- "$@"
