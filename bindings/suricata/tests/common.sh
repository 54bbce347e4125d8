# Shared by e2e.sh and overhead.sh: paths, the plugin build and the
# configuration template. Sourced, not run.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pkg=$(dirname "$here")
repo=$(cd "$pkg/../.." && pwd)
suricata=${SURICATA:-suricata}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
# The tests load the plugin as install.sh installs it (stripped), staged here.
plugin=$CARGO_TARGET_DIR/staging/usr/local/lib/suricata/libsweepwatch_suricata.so

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Checks the tools, and that Suricata is 7.0 or 8.0, the releases the plugin
# supports; sets $suricata_version (e.g. 8.0.8).
need_tools() {
    local tool version
    for tool in "$suricata" jq cargo "$@"; do
        command -v "$tool" >/dev/null || fail "$tool is not installed"
    done
    version=$("$suricata" -V 2>&1 || true)
    [[ $version =~ version\ ([78]\.0\.[0-9]+) ]] ||
        fail "$suricata is not Suricata 7.0 or 8.0: $version"
    suricata_version=${BASH_REMATCH[1]}
}

build_plugin() {
    echo "== building and installing the plugin (install.sh, staged)"
    DESTDIR=$CARGO_TARGET_DIR/staging "$pkg/install.sh" /usr/local >/dev/null || fail "install.sh"
    [[ -f $plugin ]] || fail "no $plugin after install.sh"
}

# render OUT HOME_NET FILETYPE [THREADED=no] [MIN_TARGETS=5] [TIMEOUT=604800] [DETECT=yes]
# Writes suricata-test.yaml with its placeholders filled in; FILETYPE
# `sweepwatch` also loads the plugin. Rules go in $work/rules (empty). A
# non-empty $sw_config names a TOML file for sweepwatch.config.
render() {
    local plugins="[]" config="# no sweepwatch.config"
    [[ $3 == sweepwatch ]] && plugins="[ \"$plugin\" ]"
    [[ -n ${sw_config:-} ]] && config="config: $sw_config"
    mkdir -p "$work/rules"
    sed -e "s|@HOME_NET@|$2|" -e "s|@RULE_DIR@|$work/rules|" -e "s|@PLUGINS@|$plugins|" \
        -e "s|@FILETYPE@|$3|" -e "s|@THREADED@|${4:-no}|" -e "s|@MIN_TARGETS@|${5:-5}|" \
        -e "s|@TIMEOUT@|${6:-604800}|g" -e "s|@DETECT@|${7:-yes}|" -e "s|@CONFIG@|$config|" \
        "$pkg/suricata-test.yaml" >"$1"
}
