//! The plugin's settings, read from the `eve-log` node Suricata hands to `Init`.
//!
//! ```yaml
//! outputs:
//!   - eve-log:
//!       filetype: sweepwatch
//!       filename: eve.json        # where every record goes, as with `regular`
//!       sweepwatch:
//!         home-net: [192.168.0.0/16, 10.0.0.0/8]
//!         min-targets: 5
//! ```
//!
//! Suricata's `ConfNode` is opaque to plugins, so the tree is read through the
//! [`ConfTree`] trait: Suricata's lookup functions in the plugin, a map in tests.

use crate::record::Style;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use sweepwatch::order::Window;
use sweepwatch::{parse_size, AllowRule, Cidr, Config, Error};

/// Read access to Suricata's configuration tree.
///
/// Sequences are nodes whose children are named `0`, `1`, …; a sequence item
/// that is a mapping has the name of its first key as its value, as Suricata's
/// YAML loader leaves it.
pub trait ConfTree {
    /// A node of the tree.
    type Node: Copy;
    /// The child `key` of `node`.
    fn child(&self, node: Self::Node, key: &str) -> Option<Self::Node>;
    /// The value of the child `key` of `node`.
    fn child_value(&self, node: Self::Node, key: &str) -> Option<String>;
    /// A value by its dotted name from the root, such as `vars.address-groups.HOME_NET`.
    fn global(&self, name: &str) -> Option<String>;
    /// The names of `node`'s children, or `None` where the tree cannot list
    /// them (then misspelt keys are looked for by name only).
    fn keys(&self, node: Self::Node) -> Option<Vec<String>>;
}

/// Where the home networks came from, for the start-up message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HomeSource {
    /// `sweepwatch.home-net`.
    Yaml,
    /// `home_networks` in the TOML file named by `sweepwatch.config`.
    TomlFile,
    /// Suricata's `vars.address-groups.HOME_NET`.
    HomeNet,
    /// The detector's defaults (RFC 1918, CGNAT, IPv6 ULA).
    Default,
}

impl HomeSource {
    /// A few words for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            HomeSource::Yaml => "sweepwatch.home-net",
            HomeSource::TomlFile => "the TOML file",
            HomeSource::HomeNet => "HOME_NET",
            HomeSource::Default => "the defaults",
        }
    }
}

/// Everything `Init` needs, validated.
#[derive(Clone, Debug)]
pub struct Options {
    /// False when `sweepwatch.enabled` is `no`: records are only passed through.
    pub detect: bool,
    /// The detector's configuration, already validated.
    pub detector: Config,
    /// The output file (per-thread files derive from it in threaded mode).
    pub path: PathBuf,
    /// Append to an existing file (`append`, default yes) or truncate it.
    pub append: bool,
    /// Bytes kept before writing (`buffer-size`, default 0: write every record
    /// at once, as Suricata's `regular` file type does).
    pub buffer_size: usize,
    /// Text Suricata writes before each record (`prefix`, such as `@cee: `):
    /// skipped when parsing, and written before each verdict record too.
    pub prefix: String,
    /// Where [`Config::home_networks`] came from.
    pub home_from: HomeSource,
    /// How flow events are put back in time order (`reorder-secs`,
    /// `reorder-events`).
    pub reorder: Window,
    /// False when `sweepwatch.write-flows` is `no`: flow records feed the
    /// detector but are not written (other records and verdicts are).
    pub write_flows: bool,
    /// Suricata's `sensor-name`, written as `host` in sweep records as
    /// Suricata writes it in its own.
    pub host: Option<String>,
    /// How decided verdicts are written (`sweepwatch.records`: `sweep`, the
    /// default, or `alert`).
    pub style: Style,
    /// Where the detector's state is restored from at start-up and saved to
    /// at shutdown (`sweepwatch.state-file`), so that a restart does not
    /// forget scans in progress; `None` without one.
    pub state_file: Option<PathBuf>,
    /// The NATS server(s) first contacts are published to for `sweepwatch
    /// aggregate` (`sweepwatch.publish`, e.g. `nats://10.0.0.2:4222`);
    /// `None` without one.
    pub publish: Option<String>,
}

/// A few words on how flow events are ordered, for the start-up message.
pub fn describe_window(w: &Window) -> String {
    if w.is_off() {
        "flow events in arrival order".to_string()
    } else if w.micros == u64::MAX {
        format!(
            "flow events sorted until the end (at most {} held)",
            w.max_events
        )
    } else {
        format!(
            "flow events held {} s for ordering (at most {})",
            w.micros / 1_000_000,
            w.max_events
        )
    }
}

/// Events held at most for reordering, by default: about 37 MiB, reserved
/// at start-up.
pub const DEFAULT_REORDER_EVENTS: usize = 1 << 18;
/// Seconds of capture time events are held when reading live traffic.
pub const DEFAULT_REORDER_SECS: u64 = 60;

/// Keys of the `sweepwatch` node, with the detector field each one sets.
const KEYS: [(&str, &str); 16] = [
    ("enabled", ""),
    ("write-flows", ""),
    ("records", ""),
    ("config", ""),
    ("home-net", "home_networks"),
    ("allow", "allow"),
    ("ignore-ports", "ignore_ports"),
    ("ignore-networks", "ignore_networks"),
    ("min-targets", "min_targets"),
    ("memory", "memory_bytes"),
    ("shards", "shards"),
    ("hash-seed", "hash_seed"),
    ("reorder-secs", ""),
    ("reorder-events", ""),
    ("state-file", ""),
    ("publish", ""),
];

/// A configuration the plugin refuses. It reads as `key: reason`, the form
/// `Init` logs after `bad configuration: `.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfError {
    /// A setting's value is refused.
    #[error("{key}: {reason}")]
    Invalid {
        /// The setting, as written in suricata.yaml: `append`,
        /// `sweepwatch.min-targets`, `sweepwatch.home-net[1]`; `HOME_NET` for
        /// the address group it came from; or the detector's own field name
        /// when no setting gave its value.
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// The detector refused the configuration without naming a field.
    #[error(transparent)]
    Detector(Error),
}

impl ConfError {
    /// `reason` for refusing `key`.
    fn new(key: impl Into<String>, reason: impl Into<String>) -> ConfError {
        ConfError::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Reads the plugin's options from the `eve-log` node `eve`. Relative file
/// names are taken relative to `log_dir`. Returns the options and notes worth
/// printing at start-up (such as an unusable `HOME_NET`); an error names the
/// offending key.
pub fn read<T: ConfTree>(
    tree: &T,
    eve: T::Node,
    log_dir: &Path,
) -> Result<(Options, Vec<String>), ConfError> {
    let mut notes = Vec::new();
    let file = output_file(tree, eve, log_dir)?;
    let sw = Section {
        tree,
        node: sweepwatch_node(tree, eve)?,
    };
    let switches = switches(&sw)?;
    if switches.detect {
        notes.extend(flow_type_note(tree, eve));
    }
    let mut fields = toml_file(&sw)?;
    let home_from = home_networks(&sw, &mut fields, &mut notes)?;
    detection_settings(&sw, &mut fields)?;
    let reorder = reorder_window(&sw, tree.global("pcap-file.file").is_some())?;
    let state_file = sw.parsed("state-file", |v| state_file(v, log_dir))?;
    let publish = sw.parsed("publish", publish_url)?;
    check(&fields, &home_from)?;
    Ok((
        Options {
            detect: switches.detect,
            detector: fields.config,
            path: file.path,
            append: file.append,
            buffer_size: file.buffer_size,
            prefix: file.prefix,
            home_from,
            reorder,
            write_flows: switches.write_flows,
            host: tree.global("sensor-name").filter(|h| !h.is_empty()),
            style: switches.style,
            state_file,
            publish,
        },
        notes,
    ))
}

/// Where records go and how they are written: the `eve-log` keys the
/// `regular` file type shares.
struct OutputFile {
    path: PathBuf,
    append: bool,
    buffer_size: usize,
    prefix: String,
}

/// The output file's settings, refusing the `regular` type's strftime
/// names and timed rotation, which this type lacks.
fn output_file<T: ConfTree>(
    tree: &T,
    eve: T::Node,
    log_dir: &Path,
) -> Result<OutputFile, ConfError> {
    let filename = tree
        .child_value(eve, "filename")
        .unwrap_or_else(|| "eve.json".to_string());
    // Suricata's `regular` type expands strftime patterns and rotates by
    // itself; this type reopens on SIGHUP only, so both are refused rather
    // than silently ignored.
    if filename.contains('%') {
        return Err(ConfError::new(
            "filename",
            format!(
                "{filename:?}: strftime patterns are not supported by the \
                 sweepwatch file type; rotate with SIGHUP (logrotate) instead"
            ),
        ));
    }
    if let Some(v) = tree.child_value(eve, "rotate-interval") {
        return Err(ConfError::new(
            "rotate-interval",
            format!(
                "{v:?} is not supported by the sweepwatch file type; \
                 rotate with SIGHUP (logrotate) instead"
            ),
        ));
    }
    let path = if Path::new(&filename).is_absolute() {
        PathBuf::from(&filename)
    } else {
        log_dir.join(&filename)
    };
    let append = match tree.child_value(eve, "append") {
        None => true,
        Some(v) => boolean(&v)
            .ok_or_else(|| ConfError::new("append", format!("{v:?} is not yes or no")))?,
    };
    let buffer_size = match tree.child_value(eve, "buffer-size") {
        None => 0,
        Some(v) => usize::try_from(parse_size(&v).map_err(|e| ConfError::new("buffer-size", e))?)
            .map_err(|_| ConfError::new("buffer-size", format!("{v} is too large")))?,
    };
    Ok(OutputFile {
        path,
        append,
        buffer_size,
        prefix: tree.child_value(eve, "prefix").unwrap_or_default(),
    })
}

/// The `sweepwatch` node under `eve`, if there is one, checked to be a
/// mapping without misspelt keys.
fn sweepwatch_node<T: ConfTree>(tree: &T, eve: T::Node) -> Result<Option<T::Node>, ConfError> {
    let Some(n) = tree.child(eve, "sweepwatch") else {
        return Ok(None);
    };
    // Its keys are looked up by name, so anything but a mapping would
    // otherwise be ignored without a word. An empty value (`sweepwatch:`
    // with every key commented out) is YAML's null: no settings.
    let found = match tree.child_value(eve, "sweepwatch") {
        Some(v) if !v.trim().is_empty() => Some(format!("the value {v:?}")),
        _ if tree.child(n, "0").is_some() => Some("a list".to_string()),
        _ => None,
    };
    if let Some(found) = found {
        return Err(ConfError::new(
            "sweepwatch",
            format!(
                "expected a mapping of keys (such as `min-targets: 5`), \
                 found {found}; `filetype: sweepwatch` alone enables the plugin"
            ),
        ));
    }
    // The likely misspelling (TOML's underscores) is looked for by name,
    // which works even where the keys cannot be listed.
    for (key, _) in KEYS.iter().filter(|(k, _)| k.contains('-')) {
        let wrong = key.replace('-', "_");
        if tree.child(n, &wrong).is_some() {
            return Err(ConfError::new(
                format!("sweepwatch.{wrong}"),
                format!("unknown key; did you mean {key}?"),
            ));
        }
    }
    if let Some(keys) = tree.keys(n) {
        if let Some(k) = keys.iter().find(|k| !KEYS.iter().any(|(key, _)| key == k)) {
            let valid: Vec<&str> = KEYS.iter().map(|(key, _)| *key).collect();
            return Err(ConfError::new(
                format!("sweepwatch.{k}"),
                format!("unknown key; the keys are {}", valid.join(", ")),
            ));
        }
    }
    Ok(Some(n))
}

/// The `sweepwatch` node, which may be absent: then no key is set.
struct Section<'t, T: ConfTree> {
    tree: &'t T,
    node: Option<T::Node>,
}

impl<T: ConfTree> Section<'_, T> {
    /// The value of `key`, when set.
    fn value(&self, key: &str) -> Option<String> {
        self.node.and_then(|n| self.tree.child_value(n, key))
    }

    /// The value of `key` read by `parse`, when set; its error names the key.
    fn parsed<V>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<V, String>,
    ) -> Result<Option<V>, ConfError> {
        self.value(key)
            .map(|v| parse(&v).map_err(|e| ConfError::new(format!("sweepwatch.{key}"), e)))
            .transpose()
    }

    /// The items of the list `key`, when set (see [`list`]).
    fn list(&self, key: &str) -> Result<Option<Vec<String>>, ConfError> {
        match self.node {
            None => Ok(None),
            Some(n) => list(self.tree, n, key, &format!("sweepwatch.{key}")),
        }
    }
}

/// What the plugin does with what it reads.
struct Switches {
    detect: bool,
    style: Style,
    write_flows: bool,
}

/// `enabled`, `records` and `write-flows`.
fn switches<T: ConfTree>(sw: &Section<'_, T>) -> Result<Switches, ConfError> {
    let yes_no = |v: &str| boolean(v).ok_or_else(|| format!("{v:?} is not yes or no"));
    let detect = sw.parsed("enabled", yes_no)?.unwrap_or(true);
    let style = match sw.value("records").as_deref().map(str::trim) {
        None | Some("sweep") => Style::Sweep,
        Some("alert") => Style::Alert,
        Some(v) => {
            return Err(ConfError::new(
                "sweepwatch.records",
                format!("{v:?} is not sweep or alert"),
            ))
        }
    };
    let write_flows = sw.parsed("write-flows", yes_no)?.unwrap_or(true);
    Ok(Switches {
        detect,
        style,
        write_flows,
    })
}

/// A note when the output's `types` leave out `flow`: detection reads flow
/// records only, and without them would run idle.
fn flow_type_note<T: ConfTree>(tree: &T, eve: T::Node) -> Option<String> {
    let types = list(tree, eve, "types", "types").ok()??;
    (!types.iter().any(|t| t == "flow")).then(|| {
        "`flow` is not among this eve-log output's types, so the \
         detector gets no events; add `- flow` to `types`"
            .to_string()
    })
}

/// The detector configuration as it is being assembled, and where its
/// values came from, so that a value the detector refuses can be traced to
/// the setting that gave it.
struct Fields {
    config: Config,
    /// The TOML file named by `sweepwatch.config`, if any.
    toml_path: Option<String>,
    /// Whether that file sets `home_networks`.
    toml_home: bool,
    /// The `sweepwatch` keys that set a detector field.
    set: HashSet<&'static str>,
}

/// The base the `sweepwatch` keys override: the TOML file named by
/// `sweepwatch.config`, or the detector's defaults.
fn toml_file<T: ConfTree>(sw: &Section<'_, T>) -> Result<Fields, ConfError> {
    let mut fields = Fields {
        config: Config::default(),
        toml_path: None,
        toml_home: false,
        set: HashSet::new(),
    };
    if let Some(p) = sw.value("config") {
        let text = std::fs::read_to_string(&p)
            .map_err(|e| ConfError::new("sweepwatch.config", format!("cannot read {p}: {e}")))?;
        let (config, keys) = Config::from_toml_str_with_keys(&text)
            .map_err(|e| ConfError::new("sweepwatch.config", format!("{p}: {e}")))?;
        fields.config = config;
        fields.toml_home = keys.iter().any(|k| k == "home_networks");
        fields.toml_path = Some(p);
    }
    Ok(fields)
}

/// Sets the home networks from, in this order, `sweepwatch.home-net`, the
/// TOML file, Suricata's `HOME_NET` or the defaults, and says which.
fn home_networks<T: ConfTree>(
    sw: &Section<'_, T>,
    fields: &mut Fields,
    notes: &mut Vec<String>,
) -> Result<HomeSource, ConfError> {
    let home = sw.list("home-net")?;
    if home
        .as_ref()
        .is_some_and(|items| items.iter().all(|s| s.trim().is_empty()))
    {
        return Err(ConfError::new(
            "sweepwatch.home-net",
            "empty; give at least one CIDR block, \
             or leave the key out (the default is Suricata's HOME_NET)",
        ));
    }
    if let Some(list) = home {
        fields.set.insert("home-net");
        fields.config.home_networks = list;
        return Ok(HomeSource::Yaml);
    }
    if fields.toml_home {
        return Ok(HomeSource::TomlFile);
    }
    let Some(v) = sw.tree.global("vars.address-groups.HOME_NET") else {
        return Ok(HomeSource::Default);
    };
    match suricata_addresses(&v) {
        Ok((blocks, cleared)) if !blocks.is_empty() => {
            if !cleared.is_empty() {
                notes.push(format!("HOME_NET: read {}", cleared.join(", ")));
            }
            fields.config.home_networks = blocks;
            Ok(HomeSource::HomeNet)
        }
        Ok(_) => {
            notes.push(format!(
                "HOME_NET {v:?} names no block sweepwatch can use; using the defaults"
            ));
            Ok(HomeSource::Default)
        }
        Err(why) => {
            notes.push(format!("HOME_NET {v:?} {why}; using the defaults"));
            Ok(HomeSource::Default)
        }
    }
}

/// The `sweepwatch` keys that set detector fields, over the base.
fn detection_settings<T: ConfTree>(
    sw: &Section<'_, T>,
    fields: &mut Fields,
) -> Result<(), ConfError> {
    let cfg = &mut fields.config;
    let set = &mut fields.set;
    if let Some(n) = sw.node {
        if let Some(rules) = allow_list(sw.tree, n)? {
            set.insert("allow");
            cfg.allow = rules;
        }
        if let Some(items) = sw.list("ignore-ports")? {
            set.insert("ignore-ports");
            cfg.ignore_ports = items
                .iter()
                .map(|p| port(p).map_err(|e| ConfError::new("sweepwatch.ignore-ports", e)))
                .collect::<Result<_, _>>()?;
        }
        if let Some(items) = sw.list("ignore-networks")? {
            set.insert("ignore-networks");
            cfg.ignore_networks = items;
        }
    }
    if let Some(v) = sw.parsed("min-targets", number)? {
        set.insert("min-targets");
        cfg.min_targets = v;
    }
    if let Some(v) = sw.parsed("memory", parse_size)? {
        set.insert("memory");
        cfg.memory_bytes = v;
    }
    if let Some(v) = sw.parsed("shards", number)? {
        set.insert("shards");
        cfg.shards = v;
    }
    if let Some(v) = sw.parsed("hash-seed", number)? {
        set.insert("hash-seed");
        cfg.hash_seed = Some(v);
    }
    Ok(())
}

/// How long flow events are held for ordering, and how many at most.
fn reorder_window<T: ConfTree>(sw: &Section<'_, T>, offline: bool) -> Result<Window, ConfError> {
    // Reading a capture (-r) sets pcap-file.file: verdict latency does not
    // matter there, so events are held until the end, when Suricata logs the
    // flows still open in hash order.
    let micros = match sw.parsed("reorder-secs", number::<u64>)? {
        None if offline => u64::MAX,
        None => DEFAULT_REORDER_SECS * 1_000_000,
        Some(secs) => secs.saturating_mul(1_000_000),
    };
    let max_events = sw
        .parsed("reorder-events", number)?
        .unwrap_or(DEFAULT_REORDER_EVENTS);
    Ok(Window { micros, max_events })
}

/// `publish`: one NATS URL, or several of a cluster separated by commas,
/// each `nats://HOST:PORT` (or `tls://`); whether the server answers is
/// found at start-up, where one that does not only turns publishing off.
fn publish_url(v: &str) -> Result<String, String> {
    for url in v.split(',').map(str::trim) {
        let rest = url
            .strip_prefix("nats://")
            .or_else(|| url.strip_prefix("tls://"))
            .ok_or_else(|| format!("{url:?} is no nats:// URL"))?;
        if rest.is_empty() || rest.contains('/') || rest.contains(char::is_whitespace) {
            return Err(format!("{url:?} is no nats://HOST:PORT URL"));
        }
    }
    Ok(v.trim().to_string())
}

/// `state-file`: relative names are in the log directory, like `filename`.
/// Its directory must exist now, so that a typo stops start-up instead of
/// losing the state at shutdown; what the file holds is judged when it is
/// read (a bad state only starts detection empty).
fn state_file(v: &str, log_dir: &Path) -> Result<PathBuf, String> {
    if v.trim().is_empty() {
        return Err("empty; give a file name, or leave the key out".to_string());
    }
    let path = log_dir.join(v);
    if v.ends_with('/') || path.is_dir() {
        return Err(format!(
            "{} is a directory; name a file in it",
            path.display()
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "{}: its directory {} does not exist",
            path.display(),
            dir.display()
        ));
    }
    Ok(path)
}

/// Validates the assembled configuration, naming in an error the setting
/// that gave the refused value: a `sweepwatch` key, `HOME_NET` or the TOML
/// file.
fn check(fields: &Fields, home_from: &HomeSource) -> Result<(), ConfError> {
    let (field, message) = match fields.config.validate() {
        Ok(()) => return Ok(()),
        Err(Error::Config { field, message }) => (field, message),
        Err(other) => return Err(ConfError::Detector(other)),
    };
    let base = field.split('[').next().unwrap_or(&field);
    let index = &field[base.len()..];
    let key = match KEYS.iter().find(|(_, f)| *f == base) {
        Some((key, _)) if fields.set.contains(key) => format!("sweepwatch.{key}{index}"),
        _ if *home_from == HomeSource::HomeNet && base == "home_networks" => {
            format!("HOME_NET{index}")
        }
        _ => match &fields.toml_path {
            Some(p) => {
                return Err(ConfError::new(
                    "sweepwatch.config",
                    format!("{p}: {field}: {message}"),
                ))
            }
            None => field.clone(),
        },
    };
    Err(ConfError::new(key, message))
}

/// The items of `key` under `node`: a YAML sequence, or one string in
/// Suricata's address syntax (`"[10.0.0.0/8, 192.168.0.0/16]"`). `None` when
/// the key is absent. `name` is the key as errors give it.
fn list<T: ConfTree>(
    tree: &T,
    node: T::Node,
    key: &str,
    name: &str,
) -> Result<Option<Vec<String>>, ConfError> {
    if let Some(v) = tree.child_value(node, key) {
        return split_list(&v)
            .map(Some)
            .map_err(|e| ConfError::new(name, e));
    }
    let Some(seq) = tree.child(node, key) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for i in 0.. {
        let item = i.to_string();
        if tree.child(seq, &item).is_none() {
            break;
        }
        match tree.child_value(seq, &item) {
            Some(v) => out.push(v.trim().to_string()),
            None => {
                return Err(ConfError::new(
                    format!("{name}[{i}]"),
                    "expected a single value",
                ))
            }
        }
    }
    Ok(Some(out))
}

/// `allow`: items are blocks (`"192.0.2.7"`) or mappings with a block and
/// its ports (`{ net: 192.0.2.0/28, ports: [161, 162] }`).
fn allow_list<T: ConfTree>(tree: &T, node: T::Node) -> Result<Option<Vec<AllowRule>>, ConfError> {
    if let Some(v) = tree.child_value(node, "allow") {
        let items = split_list(&v).map_err(|e| ConfError::new("sweepwatch.allow", e))?;
        return Ok(Some(items.into_iter().map(AllowRule::Net).collect()));
    }
    let Some(seq) = tree.child(node, "allow") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for i in 0.. {
        let name = i.to_string();
        let Some(item) = tree.child(seq, &name) else {
            break;
        };
        // A misspelt key (`port` for `ports`) would otherwise leave a rule
        // that allows every port.
        if let Some(k) = tree
            .keys(item)
            .unwrap_or_default()
            .into_iter()
            .find(|k| k != "net" && k != "ports")
        {
            return Err(ConfError::new(
                format!("sweepwatch.allow[{i}].{k}"),
                "unknown key; a rule is a block or { net, ports }",
            ));
        }
        // A mapping item also carries a value (its first key), so look for
        // `net` before taking the item's own value.
        if let Some(net) = tree.child_value(item, "net") {
            let key = format!("sweepwatch.allow[{i}].ports");
            let ports = list(tree, item, "ports", &key)?
                .unwrap_or_default()
                .iter()
                .map(|p| port(p).map_err(|e| ConfError::new(key.as_str(), e)))
                .collect::<Result<_, _>>()?;
            out.push(AllowRule::NetPorts { net, ports });
        } else if let Some(v) = tree.child_value(seq, &name) {
            out.push(AllowRule::Net(v.trim().to_string()));
        } else {
            return Err(ConfError::new(
                format!("sweepwatch.allow[{i}]"),
                "expected a block or { net, ports }",
            ));
        }
    }
    Ok(Some(out))
}

/// Splits `"[a, b]"` or `"a,b"` into its items.
fn split_list(v: &str) -> Result<Vec<String>, String> {
    let v = v.trim();
    let inner = match (v.strip_prefix('['), v.ends_with(']')) {
        (Some(rest), true) => &rest[..rest.len() - 1],
        (None, false) => v,
        _ => return Err(format!("{v:?} has unbalanced brackets")),
    };
    Ok(inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

/// The blocks of a Suricata address group such as
/// `"[192.168.0.0/16,10.0.0.0/8,!10.1.0.0/16]"`. Negated items (`!x`, `![…]`)
/// are left out: the detector has no notion of holes in its home networks.
/// Variables (`$X`), `any` and ranges are not resolved: the error says which.
/// A block with host bits set past its prefix (`192.168.1.7/24`) is read as
/// Suricata reads it, the block (`192.168.1.0/24`), and named in the second
/// list, for a warning.
pub fn suricata_addresses(v: &str) -> Result<(Vec<String>, Vec<String>), String> {
    fn group(s: &str, out: &mut Vec<String>, cleared: &mut Vec<String>) -> Result<(), String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(());
        }
        if s.starts_with('!') {
            return Ok(());
        }
        if let Some(rest) = s.strip_prefix('[') {
            let inner = rest
                .strip_suffix(']')
                .ok_or_else(|| format!("has unbalanced brackets near {s:?}"))?;
            for item in top_level_items(inner)? {
                group(item, out, cleared)?;
            }
            return Ok(());
        }
        if s.starts_with('$') {
            return Err(format!("refers to the variable {s}"));
        }
        if s.eq_ignore_ascii_case("any") {
            return Err("is \"any\"".to_string());
        }
        let (block, host_bits) = Cidr::parse_clearing_host_bits(s)
            .map_err(|e| format!("holds {s:?}, which is not a CIDR block ({e})"))?;
        if host_bits {
            cleared.push(format!("{s} (host bits set) as {block}"));
            out.push(block.to_string());
        } else {
            out.push(s.to_string());
        }
        Ok(())
    }
    let mut out = Vec::new();
    let mut cleared = Vec::new();
    let v = v.trim();
    let items = if v.starts_with('[') {
        vec![v]
    } else {
        top_level_items(v)?
    };
    for item in items {
        group(item, &mut out, &mut cleared)?;
    }
    Ok((out, cleared))
}

/// Splits at the commas outside brackets.
fn top_level_items(s: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("has unbalanced brackets in {s:?}"));
                }
            }
            ',' if depth == 0 => {
                items.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("has unbalanced brackets in {s:?}"));
    }
    items.push(&s[start..]);
    Ok(items)
}

/// Suricata's booleans: yes/no, true/false, on/off, 1/0.
fn boolean(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn number<N: std::str::FromStr>(v: &str) -> Result<N, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{v:?} is not a whole number in range"))
}

fn port(v: &str) -> Result<u16, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{v:?} is not a port number (0-65535)"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A configuration tree in memory: node paths (`a.b.0`) to values, in
    /// Suricata's shape.
    #[derive(Default)]
    pub(crate) struct MapTree {
        pub values: HashMap<String, Option<String>>,
    }

    impl MapTree {
        pub(crate) fn set(mut self, path: &str, v: &str) -> Self {
            // Create every ancestor as a node without a value.
            let mut p = String::new();
            for part in path.split('.') {
                if !p.is_empty() {
                    p.push('.');
                }
                p.push_str(part);
                self.values.entry(p.clone()).or_insert(None);
            }
            self.values.insert(path.to_string(), Some(v.to_string()));
            self
        }
        pub(crate) fn node(mut self, path: &str) -> Self {
            self.values.entry(path.to_string()).or_insert(None);
            self
        }
    }

    impl<'a> ConfTree for &'a MapTree {
        type Node = &'a str;
        fn child(&self, node: &'a str, key: &str) -> Option<&'a str> {
            let want = format!("{node}.{key}");
            self.values.keys().find(|k| **k == want).map(|k| k.as_str())
        }
        fn child_value(&self, node: &'a str, key: &str) -> Option<String> {
            self.values.get(&format!("{node}.{key}")).cloned().flatten()
        }
        fn global(&self, name: &str) -> Option<String> {
            self.values.get(name).cloned().flatten()
        }
        fn keys(&self, node: &'a str) -> Option<Vec<String>> {
            let prefix = format!("{node}.");
            let mut keys: Vec<String> = self
                .values
                .keys()
                .filter_map(|k| k.strip_prefix(&prefix))
                .filter(|rest| !rest.contains('.'))
                .map(str::to_string)
                .collect();
            keys.sort();
            Some(keys)
        }
    }

    /// The options read from `t`, or the error as `Init` logs it.
    fn opts(t: &MapTree) -> Result<(Options, Vec<String>), String> {
        read(&t, "eve", Path::new("/var/log/suricata")).map_err(|e| e.to_string())
    }

    #[test]
    fn errors_carry_the_key_and_the_reason_apart() {
        let t = MapTree::default()
            .node("eve")
            .set("eve.sweepwatch.min-targets", "1");
        let err = read(&&t, "eve", Path::new("/")).unwrap_err();
        assert_eq!(
            err,
            ConfError::Invalid {
                key: "sweepwatch.min-targets".into(),
                reason: "1 must be between 2 and 1000000".into(),
            }
        );
        assert_eq!(
            err.to_string(),
            "sweepwatch.min-targets: 1 must be between 2 and 1000000"
        );
        let t = MapTree::default()
            .node("eve")
            .set("eve.sweepwatch.allow.0", "net")
            .set("eve.sweepwatch.allow.0.net", "192.0.2.0/24")
            .set("eve.sweepwatch.allow.0.ports.0", "161")
            .set("eve.sweepwatch.allow.0.ports.1", "snmp");
        match read(&&t, "eve", Path::new("/")).unwrap_err() {
            ConfError::Invalid { key, reason } => {
                assert_eq!(key, "sweepwatch.allow[0].ports");
                assert_eq!(reason, "\"snmp\" is not a port number (0-65535)");
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn defaults_pass_through_to_eve_json_in_the_log_directory() {
        let t = MapTree::default().node("eve");
        let (o, notes) = opts(&t).unwrap();
        assert_eq!(o.path, Path::new("/var/log/suricata/eve.json"));
        assert!(o.append && o.detect);
        assert_eq!(o.buffer_size, 0);
        assert_eq!(o.home_from, HomeSource::Default);
        assert_eq!(o.detector, Config::default());
        assert_eq!(
            o.reorder,
            Window {
                micros: 60_000_000,
                max_events: DEFAULT_REORDER_EVENTS
            }
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn strftime_names_and_rotate_interval_are_refused() {
        let t = MapTree::default().set("eve.filename", "eve-%Y%m%d.json");
        let e = opts(&t).unwrap_err();
        assert!(e.starts_with("filename: ") && e.contains("SIGHUP"), "{e}");
        let t = MapTree::default().set("eve.rotate-interval", "1h");
        let e = opts(&t).unwrap_err();
        assert!(e.starts_with("rotate-interval: "), "{e}");
    }

    #[test]
    fn a_detector_without_flow_records_is_warned_about() {
        let t = MapTree::default()
            .set("eve.types.0", "alert")
            .set("eve.types.1", "dns");
        let (_, notes) = opts(&t).unwrap();
        assert!(notes.iter().any(|n| n.contains("`flow`")), "{notes:?}");
        let t = t.set("eve.types.2", "flow");
        assert!(opts(&t).unwrap().1.is_empty());
        // Nothing to warn about when detection is off.
        let t = MapTree::default()
            .set("eve.types.0", "alert")
            .set("eve.sweepwatch.enabled", "no");
        assert!(opts(&t).unwrap().1.is_empty());
        let t = MapTree::default().set("eve.sweepwatch.write-flows", "no");
        assert!(!opts(&t).unwrap().0.write_flows);
        assert_eq!(opts(&t).unwrap().0.host, None);
        let t = t.set("sensor-name", "edge-1");
        assert_eq!(opts(&t).unwrap().0.host.as_deref(), Some("edge-1"));
        assert_eq!(opts(&t).unwrap().0.style, Style::Sweep);
        let t = t.set("eve.sweepwatch.records", "alert");
        assert_eq!(opts(&t).unwrap().0.style, Style::Alert);
        let t = t.set("eve.sweepwatch.records", "alerts");
        assert!(opts(&t).unwrap_err().starts_with("sweepwatch.records: "));
        let t = MapTree::default().set("eve.sweepwatch.write-flows", "maybe");
        assert!(opts(&t)
            .unwrap_err()
            .starts_with("sweepwatch.write-flows: "));
    }

    #[test]
    fn reading_a_capture_holds_events_until_the_end() {
        let t = MapTree::default()
            .node("eve")
            .set("pcap-file.file", "/tmp/x.pcap");
        assert_eq!(opts(&t).unwrap().0.reorder.micros, u64::MAX);
        let t = t
            .set("eve.sweepwatch.reorder-secs", "0")
            .set("eve.sweepwatch.reorder-events", "10");
        let w = opts(&t).unwrap().0.reorder;
        assert!(w.is_off());
        assert_eq!(w.max_events, 10);
    }

    #[test]
    fn home_net_comes_from_suricata_without_negations() {
        let t = MapTree::default().node("eve").set(
            "vars.address-groups.HOME_NET",
            "[192.168.0.0/16,10.0.0.0/8,!10.1.0.0/16]",
        );
        let (o, _) = opts(&t).unwrap();
        assert_eq!(o.home_from, HomeSource::HomeNet);
        assert_eq!(o.detector.home_networks, ["192.168.0.0/16", "10.0.0.0/8"]);
    }

    #[test]
    fn home_net_with_host_bits_is_read_as_suricata_reads_it_with_a_note() {
        let t = MapTree::default().node("eve").set(
            "vars.address-groups.HOME_NET",
            "[192.168.1.7/24,10.0.0.0/8]",
        );
        let (o, notes) = opts(&t).unwrap();
        assert_eq!(o.home_from, HomeSource::HomeNet);
        assert_eq!(o.detector.home_networks, ["192.168.1.0/24", "10.0.0.0/8"]);
        assert_eq!(
            notes,
            ["HOME_NET: read 192.168.1.7/24 (host bits set) as 192.168.1.0/24"]
        );
        // In sweepwatch's own keys the same text is refused: it is ours to fix.
        let t = MapTree::default()
            .node("eve")
            .set("eve.sweepwatch.home-net", "[192.168.1.7/24]");
        let e = opts(&t).unwrap_err();
        assert!(e.contains("host bits"), "{e}");
    }

    #[test]
    fn unusable_home_net_falls_back_with_a_note() {
        for v in [
            "[$OTHER,10.0.0.0/8]",
            "any",
            "[1.2.3.4-1.2.3.9]",
            "![10.0.0.0/8]",
        ] {
            let t = MapTree::default()
                .node("eve")
                .set("vars.address-groups.HOME_NET", v);
            let (o, notes) = opts(&t).unwrap();
            assert_eq!(o.home_from, HomeSource::Default, "{v}");
            assert_eq!(o.detector.home_networks, Config::default().home_networks);
            assert_eq!(notes.len(), 1, "{v}");
        }
    }

    #[test]
    fn address_groups_nest() {
        assert_eq!(
            suricata_addresses("[10.0.0.0/8,[192.168.1.0/24,![192.168.1.5]],fc00::/7]")
                .unwrap()
                .0,
            ["10.0.0.0/8", "192.168.1.0/24", "fc00::/7"]
        );
        assert_eq!(
            suricata_addresses("192.168.2.22").unwrap().0,
            ["192.168.2.22"]
        );
        // Host bits past the prefix: read as Suricata reads them, and named.
        let (blocks, cleared) = suricata_addresses("[192.168.1.7/24,10.0.0.0/8]").unwrap();
        assert_eq!(blocks, ["192.168.1.0/24", "10.0.0.0/8"]);
        assert_eq!(
            cleared,
            ["192.168.1.7/24 (host bits set) as 192.168.1.0/24"]
        );
        assert!(suricata_addresses("[10.0.0.0/8").is_err());
    }

    #[test]
    fn keys_under_sweepwatch_override_home_net() {
        let t = MapTree::default()
            .node("eve")
            .set("eve.filename", "/data/eve.json")
            .set("eve.append", "no")
            .set("eve.buffer-size", "64kb")
            .set("eve.prefix", "@cee: ")
            .set("vars.address-groups.HOME_NET", "[192.168.0.0/16]")
            .set("eve.sweepwatch.home-net.0", "10.10.0.0/16")
            .set("eve.sweepwatch.home-net.1", "2001:db8::/32")
            .set("eve.sweepwatch.allow.0", "192.0.2.7")
            .set("eve.sweepwatch.allow.1", "net")
            .set("eve.sweepwatch.allow.1.net", "198.51.100.0/28")
            .set("eve.sweepwatch.allow.1.ports.0", "161")
            .set("eve.sweepwatch.ignore-ports", "[53, 123]")
            .set("eve.sweepwatch.min-targets", "8")
            .set("eve.sweepwatch.memory", "16mb")
            .set("eve.sweepwatch.shards", "4")
            .set("eve.sweepwatch.hash-seed", "7");
        let (o, _) = opts(&t).unwrap();
        assert_eq!(o.path, Path::new("/data/eve.json"));
        assert!(!o.append);
        assert_eq!(o.buffer_size, 64 << 10);
        assert_eq!(o.prefix, "@cee: ");
        assert_eq!(o.home_from, HomeSource::Yaml);
        let c = &o.detector;
        assert_eq!(c.home_networks, ["10.10.0.0/16", "2001:db8::/32"]);
        assert_eq!(
            c.allow,
            [
                AllowRule::Net("192.0.2.7".into()),
                AllowRule::NetPorts {
                    net: "198.51.100.0/28".into(),
                    ports: vec![161]
                }
            ]
        );
        assert_eq!(c.ignore_ports, [53, 123]);
        assert_eq!((c.min_targets, c.memory_bytes, c.shards), (8, 16 << 20, 4));
        assert_eq!(c.hash_seed, Some(7));
    }

    /// Keys the plugin does not read are refused at each depth it reads:
    /// its own section and an allow rule's mapping.
    #[test]
    fn unknown_keys_are_refused_at_every_depth() {
        let t = MapTree::default()
            .node("eve")
            .set("eve.sweepwatch.min-targets", "5")
            .set("eve.sweepwatch.min-targetz", "3");
        let err = opts(&t).unwrap_err();
        assert!(
            err.starts_with(
                "sweepwatch.min-targetz: unknown key; the keys are enabled, write-flows, "
            ),
            "{err}"
        );
        assert!(
            err.ends_with("reorder-events, state-file, publish"),
            "{err}"
        );
        let t = MapTree::default()
            .node("eve")
            .set("eve.sweepwatch.allow.0", "net")
            .set("eve.sweepwatch.allow.0.net", "192.0.2.0/24")
            .set("eve.sweepwatch.allow.0.port.0", "161");
        assert_eq!(
            opts(&t).unwrap_err(),
            "sweepwatch.allow[0].port: unknown key; a rule is a block or { net, ports }"
        );
        let t = MapTree::default()
            .node("eve")
            .set("eve.sweepwatch.allow.0", "net")
            .set("eve.sweepwatch.allow.0.net", "192.0.2.0/24")
            .set("eve.sweepwatch.allow.0.ports.0", "161");
        let (o, _) = opts(&t).unwrap();
        assert_eq!(
            o.detector.allow,
            [AllowRule::NetPorts {
                net: "192.0.2.0/24".into(),
                ports: vec![161]
            }]
        );
    }

    #[test]
    fn errors_name_the_yaml_key() {
        let cases = [
            (
                "eve.sweepwatch.min-targets",
                "1",
                "sweepwatch.min-targets: ",
            ),
            (
                "eve.sweepwatch.min-targets",
                "five",
                "sweepwatch.min-targets: ",
            ),
            ("eve.sweepwatch.memory", "12 parsecs", "sweepwatch.memory: "),
            ("eve.sweepwatch.memory", "1kb", "sweepwatch.memory: "),
            (
                "eve.sweepwatch.home-net.0",
                "10.0.0.0/33",
                "sweepwatch.home-net[0]: ",
            ),
            (
                "eve.sweepwatch.min_targets",
                "5",
                "sweepwatch.min_targets: unknown key",
            ),
            ("eve.sweepwatch.enabled", "perhaps", "sweepwatch.enabled: "),
            (
                "eve.sweepwatch.reorder-secs",
                "-1",
                "sweepwatch.reorder-secs: ",
            ),
            (
                "eve.sweepwatch.reorder_events",
                "1",
                "sweepwatch.reorder_events: unknown key",
            ),
            (
                "eve.sweepwatch.config",
                "/nonexistent/sw.toml",
                "sweepwatch.config: cannot read",
            ),
            ("eve.append", "sometimes", "append: "),
        ];
        for (path, v, want) in cases {
            let t = MapTree::default().node("eve").set(path, v);
            let err = opts(&t).unwrap_err();
            assert!(err.starts_with(want), "{path}={v}: {err}");
        }
    }

    #[test]
    fn sweepwatch_must_be_a_mapping() {
        let scalar = MapTree::default().node("eve").set("eve.sweepwatch", "yes");
        let list = MapTree::default()
            .node("eve")
            .set("eve.sweepwatch.0", "home-net")
            .set("eve.sweepwatch.1", "10.0.0.0/8");
        for (t, found) in [(scalar, "found the value \"yes\""), (list, "found a list")] {
            let err = opts(&t).unwrap_err();
            assert!(
                err.starts_with("sweepwatch: expected a mapping") && err.contains(found),
                "{err}"
            );
        }
        // `sweepwatch:` with nothing under it (YAML null) sets nothing.
        let t = MapTree::default().node("eve").set("eve.sweepwatch", "");
        assert_eq!(opts(&t).unwrap().0.detector, Config::default());
    }

    #[test]
    fn an_empty_home_net_is_an_error() {
        let base = || {
            MapTree::default()
                .node("eve")
                .node("eve.sweepwatch")
                .set("vars.address-groups.HOME_NET", "[192.168.0.0/16]")
        };
        let cases = [
            ("\"\"", base().set("eve.sweepwatch.home-net", "")),
            ("\"[]\"", base().set("eve.sweepwatch.home-net", "[ ]")),
            ("\", \"", base().set("eve.sweepwatch.home-net", " , ")),
            ("[]", base().node("eve.sweepwatch.home-net")),
            (
                "[\"\", \" \"]",
                base()
                    .set("eve.sweepwatch.home-net.0", "")
                    .set("eve.sweepwatch.home-net.1", " "),
            ),
        ];
        for (what, t) in cases {
            let err = opts(&t).unwrap_err();
            assert!(
                err.starts_with("sweepwatch.home-net: empty"),
                "{what}: {err}"
            );
        }
        // Left out, it is HOME_NET's.
        let (o, _) = opts(&base()).unwrap();
        assert_eq!(o.home_from, HomeSource::HomeNet);
        assert_eq!(o.detector.home_networks, ["192.168.0.0/16"]);
    }

    #[test]
    fn a_toml_file_is_the_base_and_keeps_its_home_networks() {
        let dir =
            std::env::temp_dir().join(format!("sweepwatch-suricata-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("sw.toml");
        std::fs::write(
            &file,
            "home_networks = ['172.16.0.0/12']\nmin_targets = 9\n",
        )
        .unwrap();
        let t = MapTree::default()
            .node("eve")
            .set("vars.address-groups.HOME_NET", "[192.168.0.0/16]")
            .set("eve.sweepwatch.config", file.to_str().unwrap())
            .set("eve.sweepwatch.shards", "2");
        let (o, _) = opts(&t).unwrap();
        assert_eq!(o.home_from, HomeSource::TomlFile);
        assert_eq!(o.detector.home_networks, ["172.16.0.0/12"]);
        assert_eq!((o.detector.min_targets, o.detector.shards), (9, 2));

        std::fs::write(&file, "theta1 = 0.9\n").unwrap();
        let err = opts(&t).unwrap_err();
        assert!(
            err.starts_with("sweepwatch.config: ") && err.contains("theta1"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn publish_takes_nats_urls_and_refuses_others() {
        let publish = |v: &str| {
            let t = MapTree::default()
                .node("eve")
                .set("eve.sweepwatch.publish", v);
            opts(&t).map(|(o, _)| o.publish)
        };
        assert_eq!(
            publish("nats://10.0.0.2:4222"),
            Ok(Some("nats://10.0.0.2:4222".into()))
        );
        assert_eq!(
            publish(" nats://a:4222, tls://b:4222 "),
            Ok(Some("nats://a:4222, tls://b:4222".into()))
        );
        for (bad, why) in [
            ("10.0.0.2:4222", "is no nats:// URL"),
            ("http://a:4222", "is no nats:// URL"),
            ("nats://", "is no nats://HOST:PORT URL"),
            ("nats://a:4222/x", "is no nats://HOST:PORT URL"),
            ("nats://a:4222,", "is no nats:// URL"),
        ] {
            let err = publish(bad).unwrap_err();
            assert!(
                err.starts_with("sweepwatch.publish: ") && err.contains(why),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            opts(&MapTree::default().node("eve")).unwrap().0.publish,
            None
        );
    }

    #[test]
    fn a_state_file_is_a_file_in_a_directory_that_exists() {
        let dir = std::env::temp_dir().join(format!(
            "sweepwatch-suricata-conf-state-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let logs = dir.to_str().unwrap();
        let with = |v: &str| {
            let t = MapTree::default()
                .node("eve")
                .set("eve.sweepwatch.state-file", v);
            read(&&t, "eve", &dir)
                .map(|(o, _)| o.state_file)
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            opts(&MapTree::default().node("eve")).unwrap().0.state_file,
            None
        );
        // Relative names are in the log directory, as `filename` is.
        assert_eq!(with("sw.state"), Ok(Some(dir.join("sw.state"))));
        let abs = format!("{logs}/other.state");
        assert_eq!(with(&abs), Ok(Some(PathBuf::from(&abs))));
        for (v, why) in [
            ("", "sweepwatch.state-file: empty"),
            ("  ", "sweepwatch.state-file: empty"),
            (logs, "is a directory"),
            (&format!("{logs}/new/"), "is a directory"),
            (
                "/nonexistent-dir/sw.state",
                "its directory /nonexistent-dir does not exist",
            ),
        ] {
            let err = with(v).unwrap_err();
            assert!(
                err.starts_with("sweepwatch.state-file: ") && err.contains(why),
                "{v:?}: {err}"
            );
        }
        let t = MapTree::default()
            .node("eve")
            .set("eve.sweepwatch.state_file", "sw.state");
        assert!(opts(&t)
            .unwrap_err()
            .starts_with("sweepwatch.state_file: unknown key; did you mean state-file?"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
