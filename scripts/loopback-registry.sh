# Sourced by the scripts that need a throw-away docker-registry (CNCF distribution 2.8) on
# loopback: `start_registry DIR` writes DIR/registry.yml (storage under DIR/registry, deletes
# enabled), starts the registry on a free 127.0.0.1 port with its log in DIR/registry.log, waits
# until it listens, and sets `reg` (127.0.0.1:PORT) and `registry_pid` (the caller's cleanup
# kills it).
start_registry() {
  local dir=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$dir/registry.yml" <<YML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $dir/registry}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port}
YML
  docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  reg=127.0.0.1:$port
}
