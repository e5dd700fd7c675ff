#!/bin/sh
# Joins this host to a meshlet mesh: installs and starts meshlet-agent.service.
#
#   meshlet-join.sh --controller HOST:15012 --ca ca.crt --token-file TOKEN [--node NAME]
#                   [--failure-mode closed|open] [--root DIR] [--no-start]
#
# TOKEN is the file `meshlet join-token create --node NAME --out TOKEN` wrote on the
# controller host ("-" reads it from stdin); it is never passed on a command line, where `ps`
# would show it. --ca is the controller's root certificate (ca.crt, never ca.key).
# --root DIR installs under DIR instead of / and --no-start skips systemctl (tests, images).
# Needs /usr/local/bin/meshlet (docs/install.md, "Install on systemd hosts").
set -eu

here=$(cd "$(dirname "$0")" && pwd)
unit_src="$here/../systemd/meshlet-agent.service"
controller='' ca='' token_file='' node='' failure_mode=closed root='' start=yes

die() { echo "meshlet-join: $*" >&2; exit 64; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --controller) need_value "$@"; controller=$2; shift 2 ;;
    --ca) need_value "$@"; ca=$2; shift 2 ;;
    --token-file) need_value "$@"; token_file=$2; shift 2 ;;
    --node) need_value "$@"; node=$2; shift 2 ;;
    --failure-mode) need_value "$@"; failure_mode=$2; shift 2 ;;
    --root) need_value "$@"; root=$2; shift 2 ;;
    --no-start) start=no; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

[ -n "$node" ] || node=$(hostname)
# Every problem at once, as the agent itself reports bad flags.
problems=''
add() { problems="$problems
  $1"; }
case "$controller" in
  '') add '--controller is required (host:port of the agent API, e.g. controller.example.internal:15012)' ;;
  *:*) ;;
  *) add "--controller must be host:port, got \"$controller\"" ;;
esac
if [ -z "$ca" ]; then add '--ca is required (the controller root certificate, ca.crt)'
elif [ ! -r "$ca" ]; then add "--ca: cannot read \"$ca\""
elif ! grep -q 'BEGIN CERTIFICATE' "$ca"; then add "--ca: \"$ca\" holds no PEM certificate"
elif grep -q 'PRIVATE KEY' "$ca"; then add "--ca: \"$ca\" holds a private key: give the root certificate only"
fi
if [ -z "$token_file" ]; then add '--token-file is required (from meshlet join-token create --out)'
elif [ "$token_file" != - ] && [ ! -r "$token_file" ]; then add "--token-file: cannot read \"$token_file\""
fi
case "$failure_mode" in closed|open) ;; *) add "--failure-mode must be closed or open, got \"$failure_mode\"" ;; esac
printf '%s' "$node" | grep -Eq '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' || add "--node must be a DNS subdomain, got \"$node\""
[ -r "$unit_src" ] || add "unit file not found: $unit_src (run the script from the meshlet tree)"
[ -z "$problems" ] || die "cannot join:$problems"

if [ "$token_file" = - ]; then token=$(cat); else token=$(cat "$token_file"); fi
token=$(printf '%s' "$token" | tr -d '\r\n')
case "$token" in '' | *[[:space:]]*) die 'the join token is empty or holds spaces' ;; esac

if [ -z "$root" ] && [ ! -x /usr/local/bin/meshlet ]; then
  die '/usr/local/bin/meshlet is missing: install meshlet first (docs/install.md)'
fi

etc="$root/etc/meshlet"
umask 077
mkdir -p "$etc" "$root/etc/systemd/system"
# The token file is written under umask 077: readable by root only, from its first byte.
printf '%s\n' "$token" > "$etc/join-token.tmp" && mv "$etc/join-token.tmp" "$etc/join-token"
umask 022
cp "$ca" "$etc/ca.crt.tmp" && chmod 0644 "$etc/ca.crt.tmp" && mv "$etc/ca.crt.tmp" "$etc/ca.crt"
cat > "$etc/agent.env.tmp" <<EOF
# Written by meshlet-join.sh; see systemd/agent.env in the meshlet tree for every setting.
MESHLET_NODE=$node
MESHLET_CONTROLLER=$controller
MESHLET_CONTROLLER_CA=/etc/meshlet/ca.crt
MESHLET_JOIN_TOKEN_FILE=/etc/meshlet/join-token
MESHLET_FAILURE_MODE=$failure_mode
MESHLET_DRAIN_SECONDS=20
MESHLET_STATE_DIR=/var/lib/meshlet
MESHLET_LOG_LEVEL=info
MESHLET_WORKERS=auto
EOF
mv "$etc/agent.env.tmp" "$etc/agent.env"
cp "$unit_src" "$root/etc/systemd/system/meshlet-agent.service"
chmod 0644 "$root/etc/systemd/system/meshlet-agent.service"

if [ "$start" = yes ]; then
  systemctl daemon-reload
  systemctl enable meshlet-agent.service
  # restart, not start: re-joining an installed host applies the new settings.
  systemctl restart meshlet-agent.service
  echo "meshlet-join: meshlet-agent.service started; readiness: curl -s http://127.0.0.1:15021/healthz/ready"
else
  echo "meshlet-join: installed under ${root:-/} (not started)"
fi
