#!/usr/bin/env bash
# Random MQTT passwords for the nodes and operators of an espfleet fleet.
#
#   make-passwd.sh [--nodes N | --ids id1,id2] [--operator NAME] [--out DIR] [--acl FILE] [--show]
#
# Writes (DIR is created mode 700 when missing)
#   DIR/credentials  plain "user:password" lines, mode 600: for `espfleet run
#                    --credentials`, `espfleet config/watch --credentials` and
#                    flashing real nodes (mqtt_user / mqtt_password)
#   DIR/passwd       the same users with hashed passwords (mosquitto_passwd -U),
#                    mode 640: mosquitto's password_file
#   DIR/acl          mosquitto's acl_file, mode 644: the acl beside this script
#                    (or --acl FILE) plus, for every user it has no "user"
#                    section for (the nodes), "user ID" and "topic read
#                    <prefix>/config_change" (a pattern without %u would make
#                    mosquitto warn at every start)
#
# Users named now get a new random password (that is how a password is
# rotated); every other user already in DIR/credentials or DIR/passwd is kept
# as it is (that is how a node is added). Passwords are never printed unless
# --show is given.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: make-passwd.sh [--nodes N | --ids id1,id2] [--operator NAME] [--out DIR] [--acl FILE] [--show]

  --nodes N         nodes node-0001 ... node-N (the ids `espfleet run` uses)
  --ids a,b,c       these node ids (letters, digits, ".", "_", "-"; at most 32 characters)
  --operator NAME   an operator user (the acl file must list it; "operator" is)
  --out DIR         where to write passwd, credentials and acl (default: the current
                    directory); created mode 700 when missing
  --acl FILE        the acl to start DIR/acl from (default: the acl beside this script)
  --show            also print the new "user:password" lines (default: never print a password)

Users named get a new random password; users already in DIR are kept.
EOF
}

fail() {
  echo "make-passwd.sh: $*" >&2
  exit 2
}

nodes=""
ids=""
operators=()
out="."
acl_source="$(dirname "${BASH_SOURCE[0]}")/acl"
show=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    --nodes) [[ $# -ge 2 ]] || fail "--nodes needs a count, e.g. --nodes 10"; nodes="$2"; shift 2 ;;
    --ids) [[ $# -ge 2 ]] || fail "--ids needs a comma list, e.g. --ids node-0001,node-0002"; ids="$2"; shift 2 ;;
    --operator) [[ $# -ge 2 ]] || fail "--operator needs a user name, e.g. --operator operator"; operators+=("$2"); shift 2 ;;
    --out) [[ $# -ge 2 ]] || fail "--out needs a directory"; out="$2"; shift 2 ;;
    --acl) [[ $# -ge 2 ]] || fail "--acl needs a file"; acl_source="$2"; shift 2 ;;
    --show) show=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; fail "unknown argument \"$1\"" ;;
  esac
done

command -v openssl >/dev/null || fail "openssl not found; install it (apt-get install openssl)"
command -v mosquitto_passwd >/dev/null || fail "mosquitto_passwd not found; install mosquitto (apt-get install mosquitto)"
[[ -z "$nodes" || -z "$ids" ]] || fail "give either --nodes N or --ids a,b,c, not both"

users=()
if [[ -n "$nodes" ]]; then
  [[ "$nodes" =~ ^[0-9]+$ && "$nodes" -ge 1 && "$nodes" -le 1000000 ]] || fail "--nodes must be a whole number from 1 to 1000000; got \"$nodes\""
  for ((n = 1; n <= nodes; n++)); do
    users+=("$(printf 'node-%04d' "$n")")
  done
fi
if [[ -n "$ids" ]]; then
  IFS=',' read -r -a listed <<<"$ids"
  for id in "${listed[@]}"; do
    [[ -n "$id" ]] && users+=("$id")
  done
fi
for op in "${operators[@]}"; do
  users+=("$op")
done
[[ ${#users[@]} -gt 0 ]] || { usage >&2; fail "name at least one user: --nodes N, --ids a,b or --operator NAME"; }

# Names end up in topics (%u in the acl) and in node configs (node_id: 32 characters).
for user in "${users[@]}"; do
  [[ "$user" =~ ^[A-Za-z0-9._-]{1,32}$ ]] || fail "user name \"$user\" must be 1-32 letters, digits, \".\", \"_\" or \"-\" (it becomes a topic level)"
done
duplicate="$(printf '%s\n' "${users[@]}" | sort | uniq -d | head -n 1)"
[[ -z "$duplicate" ]] || fail "\"$duplicate\" is named twice (a node and an operator need different names)"

[[ -f "$acl_source" ]] || fail "no acl file at $acl_source (give --acl FILE)"
# Everything created from here on is private to this user: DIR itself (700,
# when it is made here) holds the plain passwords.
umask 077
mkdir -p "$out" || fail "cannot create $out"
credentials="$out/credentials"
passwd="$out/passwd"
work="$(mktemp -d "${TMPDIR:-/tmp}/make-passwd.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Progress on stderr (stdout keeps the summary, and --show's lines): on a
# terminal one line redrawn in place, elsewhere a line every tenth.
progress_every=$(( ${#users[@]} / 10 > 0 ? ${#users[@]} / 10 : 1 ))
progress() { # done total what
  if [[ -t 2 ]]; then
    printf '\rmake-passwd.sh: %s %d/%d' "$3" "$1" "$2" >&2
    [[ "$1" -lt "$2" ]] || printf '\n' >&2
  elif (( $1 == $2 || $1 % progress_every == 0 )); then
    printf 'make-passwd.sh: %s %d/%d\n' "$3" "$1" "$2" >&2
  fi
}

# Every new password at once, from one openssl call whatever the count:
# 24 letters and digits each (base64 without its symbols, ~143 bits), safe in
# JSON, shells and URLs, well inside the node's 64-character limit.
mapfile -t fresh < <(openssl rand -base64 $(( ${#users[@]} * 40 + 40 )) | tr -dc 'A-Za-z0-9' | fold -w 24 | grep -E '^.{24}$' | head -n "${#users[@]}")
[[ ${#fresh[@]} -eq ${#users[@]} ]] || fail "openssl rand gave fewer random bytes than asked for"

declare -A renewed=()
for user in "${users[@]}"; do
  renewed["$user"]=1
done

# Kept users first, in their old order, then the new and renewed ones.
: >"$work/credentials"
if [[ -f "$credentials" ]]; then
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ -z "$line" || "$line" == \#* ]] && continue
    user="${line%%:*}"
    [[ -n "${renewed[$user]:-}" ]] || printf '%s\n' "$line" >>"$work/credentials"
  done <"$credentials"
fi
: >"$work/shown"
for i in "${!users[@]}"; do
  line="${users[$i]}:${fresh[$i]}"
  printf '%s\n' "$line" >>"$work/credentials"
  printf '%s\n' "$line" >>"$work/shown"
  progress $((i + 1)) ${#users[@]} "passwords"
done

# mosquitto_passwd -U hashes a file of plain user:password lines in place.
total_users=$(grep -c . "$work/credentials" || true)
echo "make-passwd.sh: hashing $total_users passwords for mosquitto (mosquitto_passwd -U) ..." >&2
started=$SECONDS
cp "$work/credentials" "$work/passwd"
mosquitto_passwd -U "$work/passwd" >/dev/null || fail "mosquitto_passwd -U failed"
echo "make-passwd.sh: hashed in $((SECONDS - started)) s" >&2
# Users in an old passwd but not in credentials (added by hand) are kept, hashed as they are.
if [[ -f "$passwd" ]]; then
  declare -A known=()
  while IFS= read -r line; do
    known["${line%%:*}"]=1
  done <"$work/credentials"
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ -z "$line" ]] && continue
    [[ -n "${known[${line%%:*}]:-}" ]] || printf '%s\n' "$line" >>"$work/passwd"
  done <"$passwd"
fi

# The acl: the source, then a section per node. Operators are the users the
# source has a "user" section for; every other user in passwd is a node.
declare -A sectioned=()
while read -r keyword name _; do
  [[ "$keyword" == "user" && -n "$name" ]] && sectioned["$name"]=1
done <"$acl_source"
# The topic the source's patterns grant nodes under (espfleet/status/%u -> espfleet).
prefix="$(sed -n 's#^pattern write \(.*\)/status/%u$#\1#p' "$acl_source" | head -n 1)"
[[ -n "$prefix" ]] || fail "$acl_source has no line \"pattern write <prefix>/status/%u\"; is it espfleet's acl?"
{
  cat "$acl_source"
  printf '\n# --- one section per node (written by make-passwd.sh) --------------------------\n'
  printf '# A node reads only the config changes; the patterns above give it its own topics.\n'
  while IFS= read -r line || [[ -n "$line" ]]; do
    user="${line%%:*}"
    [[ -z "$line" || -n "${sectioned[$user]:-}" ]] && continue
    printf '\nuser %s\ntopic read %s/config_change\n' "$user" "$prefix"
  done <"$work/passwd"
} >"$work/acl"

install -m 600 "$work/credentials" "$credentials"
# 640: mosquitto reads it through its group (chown root:mosquitto after copying).
install -m 640 "$work/passwd" "$passwd"
# 644: user names and topics, no secret.
install -m 644 "$work/acl" "$out/acl"

total=$(grep -c . "$credentials" || true)
echo "wrote $passwd (hashed, for mosquitto's password_file), $credentials (plain, mode 600) and $out/acl (mosquitto's acl_file): ${#users[@]} new or renewed, $total users in all"
if $show; then
  cat "$work/shown"
fi
