#!/usr/bin/env bash
# Prints the path of a Debian trixie folder holding Suricata 8 from
# trixie-backports, made once with debootstrap and kept between runs
# (SURICATA8_ROOT, default ~/.cache/sweepwatch/trixie). The mirror is the
# machine's own Debian source entry. Tests run Suricata 8 inside it with
# chroot. Needs root.
set -euo pipefail

root=${SURICATA8_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/sweepwatch/trixie}
if [ -x "$root/usr/bin/suricata" ]; then
    echo "$root"
    exit 0
fi

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The first mirror of the machine's own Debian entry, in either format.
mirror=$(
    {
        grep -hs -m1 -E '^URIs:' /etc/apt/sources.list.d/debian.sources || true
        grep -hs -m1 -E '^deb [^ ]+ bookworm ' /etc/apt/sources.list || true
    } | awk '{print $2; exit}'
)
[ -n "$mirror" ] || { echo "suricata8.sh: no Debian source entry to take a mirror from" >&2; exit 1; }

command -v debootstrap >/dev/null ||
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2

work="$root.partial"
as_root rm -rf "$work"
as_root mkdir -p "$(dirname "$root")"
as_root debootstrap --variant=minbase trixie "$work" "$mirror" >&2
echo "deb $mirror trixie-backports main" | as_root tee "$work/etc/apt/sources.list.d/backports.list" >/dev/null
as_root chroot "$work" apt-get update -q >&2
as_root chroot "$work" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends -t trixie-backports suricata >&2
as_root chroot "$work" apt-get clean >&2
as_root mv "$work" "$root"
echo "$root"
