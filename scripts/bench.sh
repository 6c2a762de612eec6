#!/usr/bin/env bash
# Run the tinyftpd benchmark (see benches/ftp_bench.rs and README "Benchmark").
#
#   scripts/bench.sh                                  # full run, tinyftpd only
#   scripts/bench.sh --quick                          # fast sanity run (64 MiB, 1 s windows, 200 idle)
#   scripts/bench.sh --compare all                    # also vsftpd, pure-ftpd, proftpd, pyftpdlib
#   scripts/bench.sh --compare all --sessions 10000   # the run behind README "Performance"
#   scripts/bench.sh --only retr-big,list
#   scripts/bench.sh --quick --compare vsftpd --only retr-big-tls,login-tls   # FTPS rows
#
# Everything runs on 127.0.0.1. The peers are fetched by the bench itself (apt-get download +
# dpkg-deb -x, pyftpdlib into a venv, all under target/bench-peers/) and started as root with
# generated configs; no system FTP service is installed, needed or touched.
# TINYFTPD_BIN=path overrides the server binary (default: the release build cargo makes).
set -euo pipefail
cd "$(dirname "$0")/.."
# The idle and scale tests hold --sessions connections: the bench (client side) and the
# server each need one fd per session. The bench raises its soft limit to the hard one;
# raise the hard one here when we may (root).
want=65536
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
    ulimit -Hn "$want" 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ]; then
    echo "warning: ulimit -n is $(ulimit -n); --sessions 10000 needs ~10,300 fds" >&2
fi
# --all-features: the TLS rows need tinyftpd built with `tls` (without it they are skipped).
exec cargo bench --all-features --bench ftp_bench -- "$@"
