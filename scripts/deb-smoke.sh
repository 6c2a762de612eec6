#!/usr/bin/env bash
# Smoke test of the Debian package on this machine:
#
#   scripts/deb-smoke.sh [--yes] [DEB]     DEB: default dist/tinyftpd_<version>_amd64.deb
#
# installs the package, checks what it put where (and that the service is not enabled), runs
# the command line of the installed tinyftpd.service as systemd would (Environment= and
# EnvironmentFile= variables, $VAR split into words, ${VAR} one word; there is no systemd in
# CI) with "--port 0 --bind 127.0.0.1" appended (the last --port wins), downloads a file
# with curl, stops the server with SIGTERM, then removes and purges the package and checks
# that nothing of it is left. The ftp user and /srv/ftp are removed again if this run made
# them. Leftovers of an interrupted run are purged first, so it can be run again.
#
# It installs a package system-wide, so it needs root and refuses to run unless CI=true or
# --yes is given.
set -euo pipefail

cd "$(dirname "$0")/.."

yes=0
deb=
for arg in "$@"; do
    case $arg in
        --yes) yes=1 ;;
        -*) echo "usage: scripts/deb-smoke.sh [--yes] [DEB]" >&2; exit 2 ;;
        *) deb=$arg ;;
    esac
done
if [[ $yes != 1 && ${CI:-} != true ]]; then
    echo "deb-smoke: this installs and removes the tinyftpd package on this machine;" \
        "run it with --yes (or CI=true) if that is what you want" >&2
    exit 2
fi
if [[ $(id -u) != 0 ]]; then
    echo "deb-smoke: needs root (it runs dpkg)" >&2
    exit 2
fi
for tool in curl dpkg; do
    command -v "$tool" >/dev/null || { echo "deb-smoke: $tool is missing" >&2; exit 1; }
done

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
deb=${deb:-dist/tinyftpd_${version}_amd64.deb}
[[ -f $deb ]] || scripts/build-deb.sh amd64
deb=$(realpath "$deb")

fail() {
    echo "deb-smoke: FAIL: $*" >&2
    exit 1
}

# Installed, or removed with its conffiles left (purge removes those too).
installed() {
    local status
    status=$(dpkg-query -W -f='${db:Status-Status}' tinyftpd 2>/dev/null) || return 1
    [[ -n $status && $status != not-installed ]]
}

if installed; then
    echo "deb-smoke: purging a tinyftpd package left installed" >&2
    dpkg --purge tinyftpd >/dev/null
fi

getent passwd ftp >/dev/null && ftp_user_existed=1 || ftp_user_existed=0
getent group ftp >/dev/null && ftp_group_existed=1 || ftp_group_existed=0
[[ -e /srv/ftp ]] && srv_existed=1 || srv_existed=0
work=$(mktemp -d)
sample=tinyftpd-smoke-$$.txt
server=

cleanup() {
    if [[ -n $server ]] && kill -0 "$server" 2>/dev/null; then
        kill -KILL "$server" 2>/dev/null || true
    fi
    rm -f "/srv/ftp/$sample"
    installed && dpkg --purge tinyftpd >/dev/null 2>&1 || true
    if ((!srv_existed)); then rmdir /srv/ftp 2>/dev/null || true; fi
    if ((!ftp_user_existed)) && getent passwd ftp >/dev/null; then
        userdel ftp 2>/dev/null || true
    fi
    if ((!ftp_group_existed)) && getent group ftp >/dev/null; then
        groupdel ftp 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== install $deb"
if dpkg-query -W -f='${db:Status-Status}' adduser 2>/dev/null | grep -qx installed; then
    dpkg -i "$deb" >/dev/null
else
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" >/dev/null
fi
installed || fail "the package is not installed"
files=$(dpkg -L tinyftpd)

unit=/usr/lib/systemd/system/tinyftpd.service
for f in /usr/sbin/tinyftpd /usr/share/man/man8/tinyftpd.8.gz "$unit" \
    /usr/lib/systemd/system/tinyftpd.socket /etc/default/tinyftpd \
    /usr/share/doc/tinyftpd/copyright /usr/share/doc/tinyftpd/changelog.gz; do
    [[ -e $f ]] || fail "$f was not installed"
done
/usr/sbin/tinyftpd --version | grep -qx "tinyftpd $version" || fail "tinyftpd --version"
getent passwd ftp >/dev/null || fail "no ftp user"
[[ -d /srv/ftp ]] || fail "no /srv/ftp"
grep -qx /etc/default/tinyftpd /var/lib/dpkg/info/tinyftpd.conffiles ||
    fail "/etc/default/tinyftpd is not a conffile"
if compgen -G '/etc/systemd/system/*.wants/tinyftpd*' >/dev/null; then
    fail "the service was enabled on install"
fi

echo "== run ExecStart of $unit"
# Environment= lines, then the EnvironmentFile (shell syntax as well as systemd's).
while IFS= read -r line; do
    eval "export ${line#Environment=}"
done < <(grep '^Environment=' "$unit")
envfile=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unit")
[[ $envfile == /etc/default/tinyftpd ]] || fail "EnvironmentFile is '$envfile'"
set -a
# shellcheck source=/dev/null
. "$envfile"
set +a
exec_start=$(sed -n 's/^ExecStart=[-@]*//p' "$unit")
[[ -n $exec_start ]] || fail "no ExecStart in $unit"
cmd=()
set -f # split into words as systemd does, without globbing
for word in $exec_start; do
    if [[ $word =~ ^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$ ]]; then
        cmd+=("${!BASH_REMATCH[1]}")
    elif [[ $word =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
        # shellcheck disable=SC2206 # systemd splits $VAR into words
        cmd+=(${!BASH_REMATCH[1]})
    else
        cmd+=("$word")
    fi
done
set +f
[[ ${cmd[0]} == /usr/sbin/tinyftpd ]] || fail "ExecStart runs ${cmd[0]}"
cmd+=(--port 0 --bind 127.0.0.1)
echo "${cmd[*]}"

printf 'hello from the package\n' >"/srv/ftp/$sample"
chmod 644 "/srv/ftp/$sample"
install -d -m 755 /var/log/tinyftpd # LogsDirectory=tinyftpd, done by systemd
"${cmd[@]}" >"$work/stdout" 2>"$work/stderr" </dev/null &
server=$!
addr=
for _ in $(seq 100); do
    addr=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$work/stdout")
    [[ -n $addr ]] && break
    kill -0 "$server" 2>/dev/null || fail "the server exited: $(cat "$work/stderr")"
    sleep 0.1
done
[[ -n $addr ]] || fail "no start-up line within 10 s: $(cat "$work/stdout" "$work/stderr")"
[[ $(ps -o user= -p "$server") == ftp ]] || fail "the server does not run as ftp"

got=$(curl -sS --max-time 20 "ftp://$addr/$sample") || fail "curl could not download"
[[ $got == "hello from the package" ]] || fail "downloaded '$got'"
curl -sS --max-time 20 -T "$work/stdout" "ftp://$addr/upload.txt" 2>/dev/null &&
    fail "an anonymous upload was accepted by the default (read-only) configuration"

kill -TERM "$server"
status=0
wait "$server" || status=$?
server=
((status == 0)) || fail "the server exited $status after SIGTERM: $(cat "$work/stderr")"
grep -q "$sample" /var/log/tinyftpd/xferlog || fail "the download is not in the xferlog"
rm -f "/srv/ftp/$sample"

echo "== remove and purge"
dpkg -r tinyftpd >/dev/null
while IFS= read -r f; do
    if [[ -f $f || -L $f ]] && [[ $f != /etc/default/tinyftpd ]]; then
        fail "$f is left after dpkg -r"
    fi
done <<<"$files"
[[ -f /etc/default/tinyftpd ]] || fail "dpkg -r removed the conffile (only purge should)"
dpkg --purge tinyftpd >/dev/null
installed && fail "tinyftpd is still known to dpkg after purge"
for f in /etc/default/tinyftpd /var/log/tinyftpd; do
    [[ ! -e $f ]] || fail "$f is left after purge"
done
echo "deb-smoke: ok"
