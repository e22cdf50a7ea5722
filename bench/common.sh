# Helpers the bench scripts share (sourced, not run): a free loopback port, waiting for a
# listener, a docker-registry configuration, and the address the testkit proxy prints.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
registry_config() { # PORT STORAGE
  printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp: {addr: 127.0.0.1:%s}\n' "$2" "$1"
}
proxy_address() { # FILE the proxy's output goes to -> HOST:PORT once it printed it, or fails
  for _ in $(seq 200); do grep -q '^proxy: ' "$1" 2>/dev/null && break; sleep 0.05; done
  sed -n 's/^proxy: \([^ ]*\) .*/\1/p' "$1" | grep . || { echo "the proxy did not start: $(cat "$1")" >&2; return 1; }
}
