#!/usr/bin/env bash
# The .deb, built and installed as an administrator would:
#   1. `cpack -G DEB` from the build dir; its control data (Depends from
#      dpkg-shlibdeps, conffiles, maintainer scripts) and contents (dpkg-deb).
#   2. The man pages: groff finds no problem, and each lists every flag its
#      binary's --help lists.
#      /etc/callgate/callgate.conf (the unit's --config) and /etc/default/callgate
#      are conffiles.
#   3. `dpkg -i` into a throwaway copy of this machine: an overlay of / with a
#      tmpfs on top, in a private mount namespace, chrooted into. The postinst
#      runs for real (it creates the callgate user); nothing reaches the host,
#      and the overlay vanishes with the namespace.
#   4. In there: `systemd-analyze verify` and `systemd-analyze security
#      --offline` on the installed unit. There is no systemd as PID 1 here, so
#      the unit cannot be started by systemd; instead the installed binary is
#      started the way the unit says: its User=, EnvironmentFile=,
#      StateDirectory= (as $STATE_DIRECTORY, mode StateDirectoryMode=),
#      UMask=, NoNewPrivileges= and an empty capability set, with
#      $NOTIFY_SOCKET read for READY=1, after the administrator's edits of the
#      config file (ports, drain, log format: applied). Then /readyz, an authenticated request,
#      SIGTERM (/readyz 503 during the drain, exit 0), `dpkg --purge`.
#   tests/packaging_test.sh BUILD_DIR
# Exits 77 (skipped) when it cannot run: not root, or no mount namespace or
# overlayfs.
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root (dpkg -i into a private overlay of /)"; exit 77
fi
if ! unshare -m true 2>/dev/null || ! grep -qw overlay /proc/filesystems; then
  echo "SKIP: needs mount namespaces and overlayfs"; exit 77
fi

# 1. Build the package.
(cd "$build" && nice -n 10 cpack -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/pkg/callgate_*.deb)
dpkg-deb -f "$deb" Package Version Architecture Depends >"$work/control"
for want in 'Package: callgate' 'Architecture: amd64' 'adduser' 'librocksdb' 'libsystemd0' 'libssl3' 'libsimdjson'; do
  grep -q -- "$want" "$work/control" || { cat "$work/control"; fail "control lacks $want"; }
done
dpkg-deb -e "$deb" "$work/control.d"
[ "$(sort "$work/control.d/conffiles" | tr '\n' ' ')" = "/etc/callgate/callgate.conf /etc/default/callgate " ] ||
  fail "conffiles: $(cat "$work/control.d/conffiles")"
for script in postinst prerm postrm; do
  [ -x "$work/control.d/$script" ] || fail "$script missing or not executable"
  sh -n "$work/control.d/$script" || fail "$script does not parse"
done
dpkg-deb -c "$deb" | awk '{print $NF}' >"$work/contents"
has_load=0
grep -qx './usr/bin/callgate-load' "$work/contents" && has_load=1
for path in ./usr/bin/callgate ./usr/lib/systemd/system/callgate.service ./usr/lib/sysusers.d/callgate.conf \
  ./etc/default/callgate ./etc/callgate/callgate.conf ./usr/share/man/man1/callgate.1.gz ./usr/share/doc/callgate/copyright \
  ./usr/share/doc/callgate/README.md ./usr/share/doc/callgate/docs/operations.md; do
  grep -qx -- "$path" "$work/contents" || { cat "$work/contents"; fail "the package lacks $path"; }
done
[ "$has_load" = 0 ] || grep -qx './usr/share/man/man1/callgate-load.1.gz' "$work/contents" || fail "no callgate-load(1)"
dpkg-deb -x "$deb" "$work/root"
grep -q '^ExecStart=/usr/bin/callgate serve --config /etc/callgate/callgate.conf ' \
  "$work/root/usr/lib/systemd/system/callgate.service" || fail "ExecStart"

# 2. Man pages: clean roff, and every flag of --help documented.
check_man() { # page binary help-args...
  local page=$1 binary=$2; shift 2
  local warnings
  warnings=$(zcat "$page" | groff -man -Tutf8 -ww -z 2>&1) || true
  [ -z "$warnings" ] || fail "$(basename "$page"): $warnings"
  zcat "$page" | groff -man -Tutf8 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g; s/.\x08//g' >"$work/man.txt"
  "$binary" "$@" 2>&1 | grep -o -- '--[a-z][a-z0-9-]*' | sort -u | while read -r flag; do
    case "$flag" in --help|--version) continue ;; esac
    grep -q -- "$flag" "$work/man.txt" || fail "$(basename "$page") does not document $flag"
  done
}
check_man "$work/root/usr/share/man/man1/callgate.1.gz" "$work/root/usr/bin/callgate" serve --help
[ "$has_load" = 0 ] || check_man "$work/root/usr/share/man/man1/callgate-load.1.gz" "$work/root/usr/bin/callgate-load" --help

# 3 and 4, in a private mount namespace: the overlay and chroot never touch the host.
cp "$deb" "$work/callgate.deb"
cat >"$work/in_root.sh" <<'EOF'
#!/bin/bash
# Runs chrooted in the overlay. $1: the package.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
deb=$1
unit=/usr/lib/systemd/system/callgate.service
rm -f /var/lib/man-db/auto-update # man-db's trigger would rebuild every index (~30 s twice)
dpkg -i "$deb" >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i"; }
getent passwd callgate >/dev/null || fail "postinst made no callgate user"
[ -x /usr/bin/callgate ] && [ -f /etc/default/callgate ] && [ -f /etc/callgate/callgate.conf ] && [ -f "$unit" ] ||
  fail "files missing after dpkg -i"
/usr/bin/callgate --version | grep -q '^callgate ' || fail "callgate --version"

# The closest to systemd loading the unit without systemd as PID 1.
systemd-analyze verify "$unit" >/tmp/verify.log 2>&1 || { cat /tmp/verify.log; fail "systemd-analyze verify"; }
[ ! -s /tmp/verify.log ] || { cat /tmp/verify.log; fail "systemd-analyze verify warns"; }
systemd-analyze security --offline=true --threshold=20 "$unit" >/tmp/security.log 2>&1 ||
  { cat /tmp/security.log; fail "exposure over 2.0"; }

# Start it the way the unit would.
value() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
user=$(value User)
state=/var/lib/$(value StateDirectory)
env_file=$(value EnvironmentFile); env_file=${env_file#-}
config=$(value ExecStart | sed -n 's/.* --config \([^ ]*\).*/\1/p')
[ -f "$config" ] || fail "the unit's --config file $config is not installed"
[ "$(value Type)" = notify ] || fail "Type= is not notify"
[ "$(value NoNewPrivileges)" = yes ] || fail "NoNewPrivileges"
# The administrator's edits in the config file: free ports, a short drain, JSON logs.
sed -i 's/^api-listen = .*/api-listen = "127.0.0.1:0"/; s/^edge-listen = .*/edge-listen = "127.0.0.1:0"/;
        s/^shutdown-delay = .*/shutdown-delay = "2s"/; s/^#log-format = .*/log-format = "json"/' "$config"
grep -q '^api-listen = "127.0.0.1:0"' "$config" && grep -q '^log-format = "json"' "$config" || fail "cannot edit $config"
install -d -m "$(value StateDirectoryMode)" -o "$user" -g "$user" "$state"
exec_start=$(value ExecStart)
exec_start=${exec_start//'${STATE_DIRECTORY}'/$state}
python3 - /tmp/notify.sock >/tmp/notify.log 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
while True:
    message = s.recv(4096).decode()
    print(message.replace("\n", " "), flush=True)
    if message.startswith("STOPPING=1"):
        break
PY
notify_pid=$!
for _ in $(seq 1 500); do [ -S /tmp/notify.sock ] && break; sleep 0.01; done
chmod 666 /tmp/notify.sock
(
  set -a; . "$env_file"; set +a
  export STATE_DIRECTORY=$state NOTIFY_SOCKET=/tmp/notify.sock
  umask "$(value UMask)"
  # shellcheck disable=SC2086
  exec setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs --inh-caps=-all \
    --bounding-set=-all $exec_start
) >/tmp/callgate.log 2>&1 &
pid=$!
for _ in $(seq 1 3000); do [ -s "$state/listen.json" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.01; done
[ -s "$state/listen.json" ] || { cat /tmp/callgate.log; fail "the installed service did not start"; }
api=$(sed -n 's/.*"api": "\([^"]*\)".*/\1/p' "$state/listen.json")
edge=$(sed -n 's/.*"edge": "\([^"]*\)".*/\1/p' "$state/listen.json")
for _ in $(seq 1 500); do grep -q '^READY=1' /tmp/notify.log && break; sleep 0.01; done
grep -q '^READY=1' /tmp/notify.log || fail "no READY=1 on NOTIFY_SOCKET: $(cat /tmp/notify.log)"
[ "$(curl -s "http://$api/readyz")" = '{"status":"ready"}' ] || fail "/readyz"
head -n 1 /tmp/callgate.log | grep -q '^{' || fail "log-format from $config not applied: $(head -n 1 /tmp/callgate.log)"
[ "$(curl -s -o /dev/null -w '%{http_code}' -I "http://$edge/healthz")" = 200 ] || fail "HEAD /healthz on the edge listener"
key=$(cat "$state/admin.key")
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $key" "http://$api/identities")" = 200 ] || fail "GET /identities"
[ "$(stat -c '%U %a' "$state")" = "$user 700" ] || fail "state dir: $(stat -c '%U %a' "$state")"
[ "$(stat -c '%U %a' "$state/db")" = "$user 700" ] || fail "store: $(stat -c '%U %a' "$state/db")"
[ "$(stat -c '%U %a' "$state/admin.key")" = "$user 600" ] || fail "admin.key: $(stat -c '%U %a' "$state/admin.key")"

kill -TERM $pid
code=""
for _ in $(seq 1 500); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$api/readyz" || true)
  [ "$code" = 503 ] && break
  sleep 0.01
done
[ "$code" = 503 ] || fail "/readyz during the drain: $code"
rc=0
wait $pid || rc=$?
[ "$rc" = 0 ] || { cat /tmp/callgate.log; fail "exit $rc after SIGTERM"; }
wait $notify_pid || true
grep -q '^STOPPING=1' /tmp/notify.log || fail "no STOPPING=1: $(cat /tmp/notify.log)"

dpkg --purge callgate >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; fail "dpkg --purge"; }
for path in /usr/bin/callgate /etc/default/callgate /etc/callgate/callgate.conf "$unit" "$state"; do
  [ ! -e "$path" ] || fail "$path left after purge"
done
echo "installed, started as $user, drained, purged"
EOF
chmod +x "$work/in_root.sh"

unshare -m --propagation private bash -euo pipefail -c '
  work=$1
  mkdir -p "$work/layer" "$work/merged"
  mount -t tmpfs -o size=1g tmpfs "$work/layer"
  mkdir "$work/layer/upper" "$work/layer/work"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$work/layer/upper,workdir=$work/layer/work" "$work/merged"
  mount -t proc proc "$work/merged/proc"
  mount --rbind /dev "$work/merged/dev"
  mount -t tmpfs tmpfs "$work/merged/tmp"
  mount -t tmpfs tmpfs "$work/merged/run"
  cp "$work/callgate.deb" "$work/in_root.sh" "$work/merged/tmp/"
  chroot "$work/merged" /tmp/in_root.sh /tmp/callgate.deb
' _ "$work"
echo "1 passed, 0 failed"
