#!/usr/bin/env bash
# Builds the Debian packages (build.sh), installs them with `dpkg -i` and
# uses them as a user would, from the installed paths only:
#   - /usr/bin/sweepwatch detects the bundled sample's nmap sweep and scan
#     (examples/data/README.md: 203.0.113.66 sweeps port 22 and scans
#     192.168.56.10), and nothing else;
#   - its manual pages format without warnings and its bash completion
#     completes; both systemd units pass systemd-analyze verify;
#   - ldconfig (by trigger) knows libsweepwatch.so.0.<minor>, and a C program
#     built with plain `pkg-config sweepwatch` loads it and runs under
#     valgrind, and one built with `sweepwatch-static` needs no libsweepwatch;
#   - Suricata loads the packaged plugin and writes the sweep records;
# then purges the packages and checks that nothing of them is left.
#
# Usage: packaging/deb/test.sh   (as root: it installs into the system)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
minor=$(awk -F'"' '/^version = /{split($2, v, "."); print v[1] "." v[2]; exit}' Cargo.toml)
soname=libsweepwatch.so.$minor
packages=(sweepwatch sweepwatch-suricata libsweepwatch-dev "libsweepwatch$minor")

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
[ "$(id -u)" -eq 0 ] || fail "packaging/deb/test.sh installs packages: run it as root"
for p in "${packages[@]}"; do
    if dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        fail "$p is installed already; this test installs and purges it (dpkg --purge $p)"
    fi
done

work=$(mktemp -d)
purge() {
    dpkg --purge "${packages[@]}" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap purge EXIT

echo "== building the packages"
packaging/deb/build.sh "$work/debs" >"$work/built" 2>"$work/build.log" ||
    { tail -n 30 "$work/build.log" >&2; fail "packaging/deb/build.sh"; }
mapfile -t debs <"$work/built"
[ ${#debs[@]} -eq 4 ] || fail "build.sh made ${#debs[@]} packages, not 4: ${debs[*]}"

echo "== dpkg -i"
dpkg -i "${debs[@]}" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
cd "$work"

echo "== the command"
[ "$(command -v sweepwatch)" = /usr/bin/sweepwatch ] || fail "sweepwatch is not /usr/bin/sweepwatch"
/usr/bin/sweepwatch detect --json --quiet "$root/examples/data/sample.pcap" >verdicts.jsonl ||
    fail "sweepwatch detect exited with $?"
jq -e -s '
    length > 0
    and all(.[]; .src == "203.0.113.66")
    and any(.[]; .kind == "port_sweep" and .ports == [22] and .direction == "inbound")
    and any(.[]; .kind == "port_scan" and .sample[0] == "192.168.56.10")' verdicts.jsonl >/dev/null ||
    fail "the packaged command's verdicts on sample.pcap: $(cat verdicts.jsonl)"
echo "ok: /usr/bin/sweepwatch finds 203.0.113.66's sweep of port 22 and scan of 192.168.56.10"

for page in sweepwatch sweepwatch-detect sweepwatch-watch sweepwatch-aggregate sweepwatch-collect sweepwatch-completions; do
    file=/usr/share/man/man1/$page.1.gz
    [ -f "$file" ] || fail "no $file"
    warnings=$(zcat "$file" | groff -man -Tutf8 -ww -z 2>&1)
    [ -z "$warnings" ] || fail "$file: groff warns: $warnings"
done
echo "ok: six manual pages, formatted without warnings"

completed=$(bash --norc -c 'source /usr/share/bash-completion/completions/sweepwatch
    COMP_WORDS=(sweepwatch detect --home); COMP_CWORD=2; COMP_LINE="sweepwatch detect --home"
    COMP_POINT=${#COMP_LINE}; _sweepwatch sweepwatch --home detect; echo "${COMPREPLY[@]}"')
[ "$completed" = "--home-net" ] || fail "bash completion of 'sweepwatch detect --home' gave '$completed'"
[ -s /usr/share/zsh/vendor-completions/_sweepwatch ] || fail "no zsh completion"
[ -s /usr/share/fish/vendor_completions.d/sweepwatch.fish ] || fail "no fish completion"
echo "ok: completions (bash completes --home-net)"

grep -q '^ExecStart=/usr/bin/sweepwatch watch ' /lib/systemd/system/sweepwatch.service ||
    fail "the packaged unit does not start /usr/bin/sweepwatch"
grep -q '^ExecStart=/usr/bin/sweepwatch aggregate ' /lib/systemd/system/sweepwatch-aggregate.service ||
    fail "the packaged aggregator unit does not start /usr/bin/sweepwatch"
if command -v systemd-analyze >/dev/null; then
    for u in sweepwatch sweepwatch-aggregate; do
        said=$(systemd-analyze verify "/lib/systemd/system/$u.service" 2>&1) ||
            fail "systemd-analyze verify $u.service: $said"
        [ -z "$said" ] || fail "systemd-analyze verify $u.service warns: $said"
    done
    echo "ok: both units pass systemd-analyze verify"
fi

echo "== the C library"
# The cache read whole first: `ldconfig -p | grep -q` can fail by SIGPIPE
# under pipefail when grep stops reading early.
grep -q "$soname " <<<"$(ldconfig -p)" || fail "ldconfig's cache lacks $soname"
cc -std=c11 -Wall -Wextra -Werror "$root/crates/sweepwatch-capi/examples/c/minimal.c" -o minimal \
    $(pkg-config --cflags --libs sweepwatch) || fail "minimal.c does not build with pkg-config sweepwatch"
# /lib is /usr/lib on a merged-/usr system.
grep -Eq "$soname => (/usr)?/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/" <<<"$(ldd ./minimal)" ||
    fail "minimal does not load the packaged library: $(ldd ./minimal)"
valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite ./minimal >minimal.out ||
    fail "minimal (dynamic, valgrind) exited with $?"
grep -q '^OK: ' minimal.out || fail "minimal (dynamic): $(cat minimal.out)"
cc -std=c11 -Wall -Wextra -Werror -pthread "$root/crates/sweepwatch-capi/examples/c/minimal.c" -o minimal-static \
    $(pkg-config --cflags --libs sweepwatch-static) || fail "minimal.c does not build with sweepwatch-static"
if grep -q libsweepwatch <<<"$(ldd ./minimal-static)"; then
    fail "minimal-static needs libsweepwatch: $(ldd ./minimal-static)"
fi
./minimal-static >minimal-static.out && grep -q '^OK: ' minimal-static.out ||
    fail "minimal (static): $(cat minimal-static.out)"
echo "ok: C programs built against the packages, shared (under valgrind) and static"

echo "== the Suricata plugin"
plugin=/usr/lib/suricata/libsweepwatch_suricata.so
[ -f "$plugin" ] || fail "no $plugin"
if command -v suricata >/dev/null; then
    mkdir -p rules run
    sed -e "s|@HOME_NET@|[192.168.56.0/24]|" -e "s|@RULE_DIR@|$work/rules|" \
        -e "s|@PLUGINS@|[ \"$plugin\" ]|" -e "s|@FILETYPE@|sweepwatch|" -e "s|@THREADED@|no|" \
        -e "s|@MIN_TARGETS@|5|" -e "s|@TIMEOUT@|604800|g" -e "s|@DETECT@|yes|" \
        -e "s|@CONFIG@|# no sweepwatch.config|" "$root/bindings/suricata/suricata-test.yaml" >suricata.yaml
    suricata -r "$root/examples/data/sample.pcap" -c suricata.yaml -l run -k none >suricata.log 2>&1 ||
        { cat suricata.log >&2; fail "suricata with the packaged plugin exited with an error"; }
    jq -e -s '
        [.[] | select(.event_type == "sweep")] as $s
        | ($s | length) > 0
        and all($s[]; .src_ip == "203.0.113.66")
        and any($s[]; .sweep.kind == "port_sweep" and .sweep.ports == [22])' run/eve.json >/dev/null ||
        fail "the packaged plugin's sweep records: $(grep '"sweep"' run/eve.json | head -n 5)"
    echo "ok: Suricata $(suricata -V | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+') loads $plugin and reports 203.0.113.66"
else
    echo "skip: Suricata is not installed (scripts/ensure-deps.sh installs it)"
fi

echo "== dpkg --purge"
dpkg --purge "${packages[@]}" >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge"; }
for f in /usr/bin/sweepwatch /usr/include/sweepwatch.h "$plugin" /lib/systemd/system/sweepwatch.service \
    /lib/systemd/system/sweepwatch-aggregate.service /usr/share/man/man1/sweepwatch.1.gz; do
    [ ! -e "$f" ] || fail "$f is left after dpkg --purge"
done
if grep -q libsweepwatch <<<"$(ldconfig -p)"; then
    fail "ldconfig's cache still names libsweepwatch after dpkg --purge"
fi
echo "ok: purged, nothing left"
echo "deb-test: all passed"
