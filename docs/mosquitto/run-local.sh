#!/usr/bin/env bash
# Runs mosquitto with this folder's mosquitto.conf as your own user, in the
# foreground, without installing anything: to try the configuration (or run a
# test fleet) before putting it in /etc/mosquitto.
#
#   run-local.sh DIR [--port N] [--tls-port N]
#
# DIR holds what make-passwd.sh --out DIR wrote (passwd, acl) and the TLS files
# ca.crt, server.crt and server.key. The conf is copied to
# DIR/mosquitto.local.conf with only these changes: the file paths point into
# DIR (persistence there too), the log goes to the terminal, the ports are
# --port (default 1883) and --tls-port (default 8883), and "user" is you, so
# mosquitto started as root does not switch to the mosquitto user (which
# could not read DIR, mode 700). Nothing else differs from what the broker
# runs once installed: the same listeners, logins, client ids and ACL.
set -euo pipefail

fail() {
  echo "run-local.sh: $*" >&2
  exit 2
}

usage() {
  echo "usage: run-local.sh DIR [--port N] [--tls-port N]   (DIR: make-passwd.sh's --out, plus ca.crt server.crt server.key)"
}

dir=""
port=1883
tls_port=8883
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) [[ $# -ge 2 ]] || fail "--port needs a number"; port="$2"; shift 2 ;;
    --tls-port) [[ $# -ge 2 ]] || fail "--tls-port needs a number"; tls_port="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; fail "unknown option \"$1\"" ;;
    *) [[ -z "$dir" ]] || fail "one DIR only"; dir="$1"; shift ;;
  esac
done
[[ -n "$dir" ]] || { usage >&2; fail "give the folder make-passwd.sh wrote"; }
[[ "$port" =~ ^[0-9]+$ && "$tls_port" =~ ^[0-9]+$ ]] || fail "ports are numbers"
dir="$(cd "$dir" && pwd)" || fail "no folder $dir"
for f in passwd acl ca.crt server.crt server.key; do
  [[ -r "$dir/$f" ]] || fail "$dir/$f is missing (passwd and acl: make-passwd.sh --out $dir; the certificates: README.md, Set up, step 1)"
done
mosquitto="${MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}"
[[ -x "$mosquitto" ]] || fail "mosquitto not found; install it (apt-get install mosquitto)"

conf="$(cat "$(dirname "${BASH_SOURCE[0]}")/mosquitto.conf")"
# Replaces one line or path of the conf; fails when the conf no longer has it.
swap() {
  [[ "$conf" == *"$1"* ]] || fail "mosquitto.conf no longer contains \"$1\"; update run-local.sh"
  conf="${conf//"$1"/"$2"}"
}
swap "listener 1883 127.0.0.1" "listener $port 127.0.0.1"
swap $'\nlistener 8883\n' $'\n'"listener $tls_port"$'\n'
swap "/etc/mosquitto/espfleet/passwd" "$dir/passwd"
swap "/etc/mosquitto/espfleet/acl" "$dir/acl"
swap "/etc/mosquitto/certs/ca.crt" "$dir/ca.crt"
swap "/etc/mosquitto/certs/server.crt" "$dir/server.crt"
swap "/etc/mosquitto/certs/server.key" "$dir/server.key"
swap "persistence_location /var/lib/mosquitto/" "persistence_location $dir/"
swap "log_dest file /var/log/mosquitto/mosquitto.log" "log_dest stdout"
conf+=$'\n\n# run-local.sh: stay the user who started it (root too: no switch to user mosquitto).\n'"user $(id -un)"$'\n'

umask 077
printf '%s' "$conf" >"$dir/mosquitto.local.conf"
echo "run-local.sh: mosquitto on 127.0.0.1:$port (plain) and port $tls_port (TLS) with $dir/mosquitto.local.conf; Ctrl-C stops it" >&2
exec "$mosquitto" -c "$dir/mosquitto.local.conf"
