#!/usr/bin/env bash
# A throw-away Docker distribution registry (Debian's docker-registry) on 127.0.0.1, for
# demos and tests. Everything lives in one directory: config, storage, logs and the PID.
#
#   local-registry.sh start [--dir DIR] [--port N] [--htpasswd USER:PASS] [--tls]
#                           [--token-realm URL --token-cert PEM [--token-service NAME]
#                            [--token-issuer NAME]]
#   local-registry.sh stop --dir DIR
#   local-registry.sh status --dir DIR
#
# start prints REGISTRY=127.0.0.1:PORT and DIR=..., plus CA=PATH with --tls. It is idempotent:
# starting a directory whose registry is running prints the same lines again. The access log
# (one line per request) is DIR/registry.log.
set -euo pipefail

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

die() {
  echo "local-registry.sh: error: $*" >&2
  exit 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The PID of the process listening on 127.0.0.1:PORT (TCP), if any.
listener_pid() {
  ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 | grep .
}

running_pid() {
  local dir=$1 pid
  [[ -f "$dir/registry.pid" ]] || return 1
  pid=$(<"$dir/registry.pid")
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

print_info() {
  local dir=$1
  echo "REGISTRY=127.0.0.1:$(<"$dir/port")"
  echo "DIR=$dir"
  if [[ -f "$dir/tls/ca.pem" ]]; then
    echo "CA=$dir/tls/ca.pem"
  fi
}

cmd_start() {
  local dir="" port="" htpasswd="" tls=false realm="" token_cert="" service="test-registry" issuer="test-issuer"
  while (($#)); do
    case $1 in
      --dir) dir=$2; shift 2 ;;
      --port) port=$2; shift 2 ;;
      --htpasswd) htpasswd=$2; shift 2 ;;
      --tls) tls=true; shift ;;
      --token-realm) realm=$2; shift 2 ;;
      --token-cert) token_cert=$2; shift 2 ;;
      --token-service) service=$2; shift 2 ;;
      --token-issuer) issuer=$2; shift 2 ;;
      *) usage ;;
    esac
  done
  if [[ -n "$realm" && -z "$token_cert" ]] || [[ -z "$realm" && -n "$token_cert" ]]; then
    die "--token-realm and --token-cert go together"
  fi
  if [[ -n "$realm" && -n "$htpasswd" ]]; then
    die "choose one of --htpasswd and --token-realm"
  fi
  if [[ -z "$dir" ]]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/local-registry.XXXXXX")
  fi
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  if running_pid "$dir" >/dev/null; then
    print_info "$dir"
    return 0
  fi
  local chosen_port=$port attempt
  for ((attempt = 0; attempt < 5; attempt++)); do
    port=${chosen_port:-$(free_port)}
    if listener_pid "$port" >/dev/null; then
      # A port the kernel just called free can be taken by another address's listener (ss
      # sees every address): pick again unless the caller chose it.
      [[ -z "$chosen_port" ]] && continue
      die "127.0.0.1:$port is already in use (pid $(listener_pid "$port")): stop that server or choose another --port"
    fi
    if serve "$dir" "$port" "$tls" "$htpasswd" "$realm" "$token_cert" "$service" "$issuer"; then
      print_info "$dir"
      return 0
    fi
    # Lost a race for the port between choosing it and binding it: choose another.
    [[ -z "$chosen_port" ]] && tail -n 5 "$dir/registry.log" | grep -q 'address already in use' && continue
    break
  done
  tail -n 5 "$dir/registry.log" >&2 || true
  die "docker-registry did not start on 127.0.0.1:$port (log: $dir/registry.log)"
}

# Writes DIR's config for PORT, starts docker-registry and waits until it answers; fails if it
# exits or stays silent for 30 s (a loaded CI machine can take seconds to start it).
serve() {
  local dir=$1 port=$2 tls=$3 htpasswd=$4 realm=$5 token_cert=$6 service=$7 issuer=$8
  echo "$port" >"$dir/port"

  local config="$dir/config.yml"
  {
    echo "version: 0.1"
    echo "log: {level: info, accesslog: {disabled: false}}"
    echo "storage:"
    echo "  filesystem: {rootdirectory: $dir/data}"
    echo "  delete: {enabled: true}"
    echo "http:"
    echo "  addr: 127.0.0.1:$port"
    echo "  secret: local-registry-$port"
  } >"$config"
  if $tls; then
    mkdir -p "$dir/tls"
    if [[ ! -f "$dir/tls/cert.pem" ]]; then
      # A private CA and a server certificate it signs (rustls, like browsers, refuses a CA
      # certificate presented as the server's own). CA= names the CA to trust.
      openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/tls/ca-key.pem" -out "$dir/tls/ca.pem" \
        -days 30 -subj "/CN=local-registry test CA" 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -keyout "$dir/tls/key.pem" -out "$dir/tls/server.csr" \
        -subj "/CN=127.0.0.1" 2>/dev/null
      printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
        "extendedKeyUsage=serverAuth" >"$dir/tls/server.ext"
      openssl x509 -req -in "$dir/tls/server.csr" -CA "$dir/tls/ca.pem" -CAkey "$dir/tls/ca-key.pem" \
        -CAcreateserial -days 30 -extfile "$dir/tls/server.ext" -out "$dir/tls/cert.pem" 2>/dev/null
    fi
    echo "  tls: {certificate: $dir/tls/cert.pem, key: $dir/tls/key.pem}" >>"$config"
  fi
  if [[ -n "$htpasswd" ]]; then
    [[ "$htpasswd" == *:* ]] || die "--htpasswd wants USER:PASS"
    htpasswd -Bbn "${htpasswd%%:*}" "${htpasswd#*:}" >"$dir/htpasswd" 2>/dev/null
    {
      echo "auth:"
      echo "  htpasswd: {realm: local-registry, path: $dir/htpasswd}"
    } >>"$config"
  fi
  if [[ -n "$realm" ]]; then
    [[ -f "$token_cert" ]] || die "--token-cert $token_cert does not exist"
    {
      echo "auth:"
      echo "  token: {realm: \"$realm\", service: $service, issuer: $issuer, rootcertbundle: $token_cert}"
    } >>"$config"
  fi

  docker-registry serve "$config" >>"$dir/registry.log" 2>&1 &
  echo $! >"$dir/registry.pid"
  local scheme=http curl_tls=()
  if $tls; then
    scheme=https
    curl_tls=(--cacert "$dir/tls/ca.pem")
  fi
  local i
  for ((i = 0; i < 300; i++)); do
    if ! running_pid "$dir" >/dev/null; then
      echo "local-registry.sh: docker-registry exited at start on 127.0.0.1:$port" >&2
      return 1
    fi
    # Ready when *our* registry listens on the port and answers: not any server that
    # happens to hold it.
    if [[ "$(listener_pid "$port")" == "$(<"$dir/registry.pid")" ]] &&
      curl -s -o /dev/null "${curl_tls[@]}" "$scheme://127.0.0.1:$port/v2/"; then
      return 0
    fi
    sleep 0.1
  done
  cmd_stop --dir "$dir"
  echo "local-registry.sh: docker-registry did not answer on 127.0.0.1:$port within 30 s" >&2
  return 1
}

# The DIR of `CMD --dir DIR`, the only argument stop and status take.
dir_argument() {
  local cmd=$1
  shift
  [[ $# -eq 2 && $1 == --dir && -n $2 ]] || die "$cmd needs --dir DIR"
  printf '%s' "$2"
}

cmd_stop() {
  local dir
  dir=$(dir_argument stop "$@")
  local pid i
  if pid=$(running_pid "$dir"); then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/registry.pid"
}

cmd_status() {
  local dir
  dir=$(dir_argument status "$@")
  local pid
  if pid=$(running_pid "$dir"); then
    echo "running (pid $pid)"
    print_info "$dir"
  else
    echo "stopped"
    return 3
  fi
}

(($#)) || usage
command=$1
shift
case $command in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  *) usage ;;
esac
