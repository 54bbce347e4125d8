//! Configuration: home networks, allow-list, thresholds, time limits, memory.
//!
//! Every field has a default that works without configuration; a TOML file need
//! only name what it changes.

use crate::error::Error;
use crate::hash::AddrHasher;
use crate::net::{Cidr, CidrSet};
use crate::table::Timeouts;
use serde::{Deserialize, Serialize};

/// Default home networks: RFC 1918, carrier-grade NAT and IPv6 unique-local.
pub const DEFAULT_HOME_NETWORKS: [&str; 5] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];

/// Default ignored destinations: multicast and broadcast. Discovery protocols
/// (SSDP, mDNS, NetBIOS) send there and get no reply by design; no scan does.
pub const DEFAULT_IGNORE_NETWORKS: [&str; 3] = ["224.0.0.0/4", "255.255.255.255/32", "ff00::/8"];

/// Default reply ports: UDP services whose answers reach a client's ephemeral
/// port. A datagram from one of these ports to a port of 1024 or above is a
/// reply whose request the engine did not pair with it (an SSDP or mDNS answer
/// to a multicast query, a DNS or NTP answer seen without its query), never a
/// probe: DNS 53, DHCP 67, NTP 123, NetBIOS 137 and 138, SNMP 161, QUIC 443,
/// SSDP 1900, STUN 3478, WS-Discovery 3702, mDNS 5353, LLMNR 5355. A
/// datagram from one of them to the same port is that protocol's peer
/// traffic (ntpd asks its servers from port 123 to port 123, NetBIOS and
/// mDNS speak port to port), never a probe either.
pub const DEFAULT_REPLY_PORTS: [u16; 12] = [
    53, 67, 123, 137, 138, 161, 443, 1900, 3478, 3702, 5353, 5355,
];

/// A scanner whose activity is counted in the statistics but never reported:
/// authorised vulnerability scanners, monitoring.
///
/// In TOML either a plain block, `"192.0.2.10/32"`, or a table,
/// `{ net = "192.0.2.10/32", ports = [161, 162] }`, which allows the block only
/// on those destination ports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AllowRule {
    /// Every destination port.
    Net(String),
    /// Only the listed destination ports (every port if the list is empty).
    NetPorts {
        /// The source block.
        net: String,
        /// Destination ports the source may probe unreported.
        #[serde(default)]
        ports: Vec<u16>,
    },
}

/// Read by hand rather than as an untagged enum, whose only error is that
/// no form matched: a misspelt key (`port` for `ports`) is named, with the
/// keys a rule may have, since a rule that silently lost its ports would
/// allow every port.
impl<'de> Deserialize<'de> for AllowRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error as _, MapAccess, Visitor};
        struct Rule;
        impl<'de> Visitor<'de> for Rule {
            type Value = AllowRule;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a block such as \"192.0.2.10/32\" or a table { net = \"...\", ports = [...] }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AllowRule, E> {
                Ok(AllowRule::Net(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<AllowRule, A::Error> {
                let (mut net, mut ports) = (None, None);
                while let Some(key) = m.next_key::<String>()? {
                    match key.as_str() {
                        "net" if net.is_none() => net = Some(m.next_value::<String>()?),
                        "ports" if ports.is_none() => ports = Some(m.next_value::<Vec<u16>>()?),
                        "net" | "ports" => {
                            return Err(A::Error::custom(format!("duplicate key `{key}`")))
                        }
                        other => return Err(A::Error::unknown_field(other, &["net", "ports"])),
                    }
                }
                let net = net.ok_or_else(|| A::Error::missing_field("net"))?;
                Ok(AllowRule::NetPorts {
                    net,
                    ports: ports.unwrap_or_default(),
                })
            }
        }
        d.deserialize_any(Rule)
    }
}

/// Detector configuration.
///
/// # Examples
/// ```
/// use sweepwatch::Config;
/// let cfg = Config::from_toml_str(r#"
///     home_networks = ["192.0.2.0/24"]
///     min_targets = 8
///     allow = ["198.51.100.7", { net = "203.0.113.0/28", ports = [161] }]
/// "#).unwrap();
/// assert_eq!(cfg.min_targets, 8);
/// assert_eq!(cfg.idle_timeout_secs, 3600); // untouched fields keep their defaults
///
/// let err = Config::from_toml_str("theta1 = 0.9").unwrap_err();
/// assert!(err.to_string().contains("theta1"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The networks the detector protects, as CIDR blocks. They decide each
    /// verdict's direction, and only home sources can be outbound sweepers.
    pub home_networks: Vec<String>,
    /// Sources never reported.
    pub allow: Vec<AllowRule>,
    /// Destination ports whose attempts are ignored entirely.
    pub ignore_ports: Vec<u16>,
    /// Destination blocks whose attempts are ignored entirely. Default:
    /// [`DEFAULT_IGNORE_NETWORKS`].
    pub ignore_networks: Vec<String>,
    /// UDP source ports whose datagrams to a port of 1024 or above are replies,
    /// and to the same port that protocol's peer traffic, not probes.
    /// Default: [`DEFAULT_REPLY_PORTS`]. A scanner that sends from one of
    /// these ports (nmap `-g 53`) to high UDP ports, or to that same port,
    /// evades this rule.
    pub reply_ports: Vec<u16>,
    /// Fewest distinct targets (hosts for sweeps, ports for scans) before a
    /// verdict. Default 5: the test the sequential walk adds decides in 4–5.
    pub min_targets: u32,
    /// Probability that a benign source's first contact succeeds (TRW θ0).
    pub theta0: f64,
    /// Probability that a scanner's first contact succeeds (TRW θ1, below θ0).
    pub theta1: f64,
    /// Wanted probability of detecting a scanner (TRW P_D).
    pub detection_probability: f64,
    /// Tolerated probability of flagging a benign source (TRW P_F).
    pub false_alarm_probability: f64,
    /// A source that makes no first contact this long is forgotten; its next
    /// attempt starts afresh. Repeats of a pair already counted are settled by
    /// the first-contact filter without reading the source's record, and pairs
    /// are forgotten within two `dedup_secs`: keep this at least twice
    /// `dedup_secs` (as the defaults are) and a source that keeps talking is
    /// never idle.
    pub idle_timeout_secs: u64,
    /// A source whose walk leans towards "scanner" (more failed first contacts
    /// than its successes have cancelled) is remembered this long after its
    /// latest first contact, so that scanners probing once an hour or less still
    /// add up (default one day). Other sources follow `idle_timeout_secs`.
    pub suspect_timeout_secs: u64,
    /// A (source, target, port) pair counts once per this period.
    pub dedup_secs: u64,
    /// After a verdict, the same source and kind is reported again only after this
    /// period, or sooner once its targets grow tenfold.
    pub suppress_secs: u64,
    /// Memory for all detector state, in bytes, allocated once at construction
    /// (128 KiB to 1 TiB, at least 128 KiB a shard): 9/16 for the table of
    /// 16-byte source records (the default 64 MiB tracks 2,359,296 sources),
    /// 5/16 for the evidence of sources with failures (1 KiB pages of eight
    /// 128-byte records or one 1,024-byte record, for sources past 4 targets
    /// or 7 ports: 19,688 pages in 64 MiB, at most 131,071 a shard; and an
    /// 8 KiB exact port map for every 256 pages), 2/16 for the
    /// first-contact filter. A shard under 512 KiB gives its filter up to a
    /// quarter (at most 64 KiB) from the table: so small a budget watches few
    /// sources, which make many pairs each. In TOML also a size with a unit,
    /// such as `"64MiB"` ([`parse_size`](crate::parse_size)).
    #[serde(deserialize_with = "crate::size::bytes")]
    pub memory_bytes: u64,
    /// Independent partitions of the sources, each behind its own lock, so that
    /// several threads can feed one detector.
    pub shards: u32,
    /// Seed of the keyed hashes (aHash) that place sources in memory;
    /// random and secret when absent. Set it to make replays under memory
    /// pressure evict and estimate exactly alike; unsafe on live traffic, where
    /// whoever knows it can choose addresses that crowd one bucket.
    pub hash_seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            home_networks: DEFAULT_HOME_NETWORKS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            allow: Vec::new(),
            ignore_ports: Vec::new(),
            ignore_networks: DEFAULT_IGNORE_NETWORKS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            reply_ports: DEFAULT_REPLY_PORTS.to_vec(),
            min_targets: 5,
            theta0: 0.8,
            theta1: 0.2,
            detection_probability: 0.99,
            false_alarm_probability: 0.01,
            idle_timeout_secs: 3600,
            suspect_timeout_secs: 86_400,
            dedup_secs: 1800,
            suppress_secs: 3600,
            memory_bytes: 64 << 20,
            shards: 8,
            hash_seed: None,
        }
    }
}

impl Config {
    /// Whether an engine's own view of which hosts are local
    /// ([`Event::src_local`](crate::Event::src_local), Zeek's `local_orig`)
    /// is kept: only while `home_networks` are the defaults. Networks given
    /// are the user's word on what is home, and replace the engine's; every
    /// front end that reads such events applies this.
    ///
    /// ```
    /// use sweepwatch::Config;
    ///
    /// assert!(Config::default().keeps_engine_locality());
    /// let own = Config { home_networks: vec!["198.51.100.0/24".into()], ..Config::default() };
    /// assert!(!own.keeps_engine_locality());
    /// ```
    pub fn keeps_engine_locality(&self) -> bool {
        self.home_networks == Config::default().home_networks
    }

    /// The longest configuration text [`from_toml_str`](Config::from_toml_str)
    /// reads: 1 MiB. A real configuration is a few kilobytes, and parsing
    /// takes tens of times the text's size in memory.
    pub const MAX_TOML_BYTES: usize = 1 << 20;

    /// Parses a TOML document; missing fields keep their defaults. The result is
    /// validated: an error names the offending field. Text longer than
    /// [`MAX_TOML_BYTES`](Config::MAX_TOML_BYTES) is refused unread.
    pub fn from_toml_str(text: &str) -> Result<Config, Error> {
        Config::from_toml_str_with_keys(text).map(|(cfg, _)| cfg)
    }

    /// Checks every field; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), Error> {
        Settings::compile(self).map(|_| ())
    }
}

impl Config {
    /// Parses a TOML document as [`from_toml_str`](Config::from_toml_str)
    /// does (same defaults, limit, validation and errors) and also returns
    /// the top-level keys the text sets, in the order it gives them. A key is
    /// reported even when its value equals the default, so that a caller
    /// layering other settings over the file can tell "set to the default"
    /// from "left out". The text is parsed once for both.
    ///
    /// # Examples
    /// ```
    /// use sweepwatch::Config;
    /// let (cfg, keys) = Config::from_toml_str_with_keys(
    ///     "min_targets = 5\n\
    ///      shards = 2\n\
    ///      [[allow]]\n\
    ///      net = '198.51.100.0/28'\n\
    ///      ports = [161]\n",
    /// )
    /// .unwrap();
    /// assert_eq!(cfg.shards, 2);
    /// // `min_targets` is reported although 5 is its default.
    /// assert_eq!(keys, ["min_targets", "shards", "allow"]);
    ///
    /// let err = Config::from_toml_str_with_keys("theta1 = 0.9").unwrap_err();
    /// assert_eq!(err, Config::from_toml_str("theta1 = 0.9").unwrap_err());
    /// ```
    pub fn from_toml_str_with_keys(text: &str) -> Result<(Config, Vec<String>), Error> {
        if text.len() > Config::MAX_TOML_BYTES {
            return Err(Error::config(
                "toml",
                format!(
                    "the text is {} bytes, over the limit of {} bytes (1 MiB)",
                    text.len(),
                    Config::MAX_TOML_BYTES
                ),
            ));
        }
        let mut keys = Vec::new();
        let parsed = serde::de::DeserializeSeed::deserialize(
            keyed::Noted(&mut keys),
            toml::Deserializer::new(text),
        );
        let cfg = parsed.map_err(|e| {
            // One line: the message also reaches C callers and log files.
            let msg = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
            // toml names unknown keys in its message; a value it cannot
            // take belongs to the key noted last (toml says only which
            // type it wanted); a document it cannot parse, to no key.
            // An allow rule's own keys are not top-level keys: the error
            // is the rule's, under `allow`.
            let in_rule = keys.last().is_some_and(|k| k == "allow");
            let field = msg
                .split('`')
                .nth(1)
                .filter(|_| msg.starts_with("unknown field") && !in_rule)
                .or(keys.last().map(String::as_str))
                .unwrap_or("toml")
                .to_string();
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            Error::config(field, format!("{msg}{at}"))
        })?;
        cfg.validate()?;
        Ok((cfg, keys))
    }
}

/// Deserializing a [`Config`] while noting the keys of the table it is read
/// from: serde's derived code sees every key, but keeps no record of them.
mod keyed {
    use super::Config;
    use serde::de::value::MapAccessDeserializer;
    use serde::de::{DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
    use serde::Deserialize;
    use std::fmt;

    /// Reads a configuration, noting the keys of its table in their order
    /// as they are read: when a value fails, its key is the last one noted.
    pub(super) struct Noted<'k>(pub(super) &'k mut Vec<String>);

    impl<'de> DeserializeSeed<'de> for Noted<'_> {
        type Value = Config;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Config, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Noted<'_> {
        type Value = Config;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("struct Config")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Config, A::Error> {
            // The derived code reads the same entries, through `Noting`, so
            // its defaults and errors are those of `Config::deserialize`.
            Config::deserialize(MapAccessDeserializer::new(Noting { map, keys: self.0 }))
        }
    }

    /// Passes a table's entries on, noting each key.
    struct Noting<'k, A> {
        map: A,
        keys: &'k mut Vec<String>,
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Noting<'_, A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            self.map.next_key_seed(NoteKey {
                seed,
                keys: self.keys,
            })
        }

        fn next_value_seed<V: DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, A::Error> {
            self.map.next_value_seed(seed)
        }

        fn size_hint(&self) -> Option<usize> {
            self.map.size_hint()
        }
    }

    /// Reads a key as text, notes it, and hands it to the derived code.
    struct NoteKey<'k, K> {
        seed: K,
        keys: &'k mut Vec<String>,
    }

    impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for NoteKey<'_, K> {
        type Value = K::Value;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K::Value, D::Error> {
            let key = String::deserialize(d)?;
            let value = self
                .seed
                .deserialize(IntoDeserializer::<D::Error>::into_deserializer(
                    key.as_str(),
                ))?;
            self.keys.push(key);
            Ok(value)
        }
    }
}

/// Log-likelihood steps and bounds of the sequential test, in fixed point
/// (1/256 nat), so the walk fits an `i16` in each source's record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Walk {
    pub fail_step: i16,
    pub success_step: i16,
    pub upper: i16,
    pub lower: i16,
}

pub(crate) const WALK_SCALE: f64 = 256.0;

/// [`Settings::port_flags`] bit: attempts to this destination port are ignored.
pub(crate) const IGNORED_DST: u8 = 1;
/// [`Settings::port_flags`] bit: UDP from this source port to a high port is a reply.
pub(crate) const REPLY_SRC: u8 = 2;

/// The lowest ephemeral port: replies from a reply port go to one at or above it.
const EPHEMERAL_PORTS: u16 = 1024;

/// A validated configuration in the form the hot path reads.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub home: CidrSet,
    pub allow: CidrSet,
    pub allow_ports: Vec<Vec<u16>>,
    pub ignore_nets: CidrSet,
    /// Per port: [`IGNORED_DST`] if attempts to it are ignored,
    /// [`REPLY_SRC`] if UDP datagrams from it to high ports are replies.
    pub port_flags: Box<[u8; 65536]>,
    pub min_targets: u32,
    pub walk: Walk,
    /// How long sources are kept without a first contact.
    pub timeouts: Timeouts,
    pub dedup: u32,
    pub suppress: u32,
    pub memory_bytes: u64,
    pub shards: u32,
    /// The hashes that place sources, pairs and targets, keyed from `hash_seed`.
    pub hasher: AddrHasher,
}

fn parse_blocks(field: &str, list: &[String]) -> Result<Vec<Cidr>, Error> {
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            s.parse::<Cidr>()
                .map_err(|e| Error::config(format!("{field}[{i}]"), e.to_string()))
        })
        .collect()
}

fn probability(field: &str, p: f64) -> Result<f64, Error> {
    if p.is_finite() && p > 0.0 && p < 1.0 {
        Ok(p)
    } else {
        Err(Error::config(
            field,
            format!("{p} must lie strictly between 0 and 1"),
        ))
    }
}

fn secs(field: &str, v: u64, min: u64) -> Result<u32, Error> {
    if v < min || v > u64::from(u32::MAX / 2) {
        return Err(Error::config(
            field,
            format!("{v} must be between {min} and {} seconds", u32::MAX / 2),
        ));
    }
    Ok(v as u32)
}

fn fixed(nats: f64) -> f64 {
    (nats * WALK_SCALE).round()
}

impl Settings {
    pub(crate) fn compile(c: &Config) -> Result<Settings, Error> {
        let home = parse_blocks("home_networks", &c.home_networks)?;
        let mut allow = Vec::new();
        let mut allow_ports = Vec::new();
        for (i, rule) in c.allow.iter().enumerate() {
            let (net, ports) = match rule {
                AllowRule::Net(n) => (n, Vec::new()),
                AllowRule::NetPorts { net, ports } => (net, ports.clone()),
            };
            let block = net
                .parse::<Cidr>()
                .map_err(|e| Error::config(format!("allow[{i}]"), e.to_string()))?;
            allow.push(block);
            allow_ports.push(ports);
        }
        let ignore_nets = parse_blocks("ignore_networks", &c.ignore_networks)?;
        let mut port_flags: Box<[u8; 65536]> = vec![0; 65536]
            .into_boxed_slice()
            .try_into()
            .expect("65536 ports");
        for p in &c.ignore_ports {
            port_flags[usize::from(*p)] |= IGNORED_DST;
        }
        for p in &c.reply_ports {
            port_flags[usize::from(*p)] |= REPLY_SRC;
        }
        if !(2..=1_000_000).contains(&c.min_targets) {
            return Err(Error::config(
                "min_targets",
                format!("{} must be between 2 and 1000000", c.min_targets),
            ));
        }
        let theta0 = probability("theta0", c.theta0)?;
        let theta1 = probability("theta1", c.theta1)?;
        if theta1 >= theta0 {
            return Err(Error::config(
                "theta1",
                format!("{theta1} must be below theta0 ({theta0}): scanners succeed less often"),
            ));
        }
        let pd = probability("detection_probability", c.detection_probability)?;
        let pf = probability("false_alarm_probability", c.false_alarm_probability)?;
        if pf >= pd {
            return Err(Error::config(
                "false_alarm_probability",
                format!("{pf} must be below detection_probability ({pd})"),
            ));
        }
        let fail_step = fixed(((1.0 - theta1) / (1.0 - theta0)).ln());
        let success_step = fixed((theta1 / theta0).ln());
        let upper = fixed((pd / pf).ln());
        let lower = fixed(((1.0 - pd) / (1.0 - pf)).ln());
        if fail_step < 1.0 || success_step > -1.0 {
            return Err(Error::config(
                "theta1",
                "theta0 and theta1 are too close for the test to tell scanners apart",
            ));
        }
        let limit = f64::from(i16::MAX / 2);
        if upper > limit || lower < -limit {
            return Err(Error::config(
                "false_alarm_probability",
                "detection and false-alarm probabilities are too extreme (the walk would need over 60 nats)",
            ));
        }
        if fail_step > limit || success_step < -limit {
            return Err(Error::config(
                "theta1",
                "theta0 and theta1 are too far apart",
            ));
        }
        if c.memory_bytes < (128 << 10) || c.memory_bytes > (1 << 40) {
            return Err(Error::config(
                "memory_bytes",
                format!("{} must be between 128 KiB and 1 TiB", c.memory_bytes),
            ));
        }
        if !(1..=1024).contains(&c.shards) {
            return Err(Error::config(
                "shards",
                format!("{} must be between 1 and 1024", c.shards),
            ));
        }
        if c.memory_bytes / u64::from(c.shards) < (128 << 10) {
            return Err(Error::config(
                "shards",
                format!(
                    "{} shards leave under 128 KiB each of memory_bytes ({})",
                    c.shards, c.memory_bytes
                ),
            ));
        }
        Ok(Settings {
            home: CidrSet::new(home),
            allow: CidrSet::new(allow),
            allow_ports,
            ignore_nets: CidrSet::new(ignore_nets),
            port_flags,
            min_targets: c.min_targets,
            walk: Walk {
                fail_step: fail_step as i16,
                success_step: success_step as i16,
                upper: upper as i16,
                lower: lower as i16,
            },
            timeouts: Timeouts {
                idle: secs("idle_timeout_secs", c.idle_timeout_secs, 1)?,
                suspect: secs("suspect_timeout_secs", c.suspect_timeout_secs, 1)?.max(secs(
                    "idle_timeout_secs",
                    c.idle_timeout_secs,
                    1,
                )?),
            },
            dedup: secs("dedup_secs", c.dedup_secs, 1)?,
            suppress: secs("suppress_secs", c.suppress_secs, 0)?,
            memory_bytes: c.memory_bytes,
            shards: c.shards,
            hasher: AddrHasher::new(c.hash_seed),
        })
    }

    /// False if no ignore or allow rule can apply to an event between
    /// addresses of these leading-byte indexes: three table reads, one branch,
    /// clear most events.
    #[inline(always)]
    pub(crate) fn may_screen(&self, src_lead: u16, dst_lead: u16, dst_port: u16) -> bool {
        (self.port_flags[usize::from(dst_port)] & IGNORED_DST != 0)
            | self.ignore_nets.may_contain(dst_lead)
            | self.allow.may_contain(src_lead)
    }

    /// True if attempts to `dst` (leading-byte index `dst_lead`) port
    /// `dst_port` are ignored.
    #[inline(always)]
    pub(crate) fn ignored(&self, dst: u128, dst_lead: u16, dst_port: u16) -> bool {
        self.port_flags[usize::from(dst_port)] & IGNORED_DST != 0
            || self.ignore_nets.contains_lead(dst, dst_lead)
    }

    /// True if a UDP datagram from `src_port` to `dst_port` is a reply that
    /// answers an unseen request, or the peer traffic of a protocol whose
    /// both ends use its port (ntpd's queries from 123 to 123), rather than a
    /// probe.
    #[inline(always)]
    pub(crate) fn is_reply(&self, src_port: u16, dst_port: u16) -> bool {
        (dst_port >= EPHEMERAL_PORTS || dst_port == src_port)
            && self.port_flags[usize::from(src_port)] & REPLY_SRC != 0
    }

    /// True if an attempt from `src` to `dst_port` is allow-listed.
    #[inline(always)]
    pub(crate) fn allowed(&self, src: u128, src_lead: u16, dst_port: u16) -> bool {
        match self.allow.position_lead(src, src_lead) {
            None => false,
            Some(i) => {
                let ports = &self.allow_ports[i];
                ports.is_empty() || ports.contains(&dst_port)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(text: &str) -> String {
        match Config::from_toml_str(text).unwrap_err() {
            Error::Config { field, .. } => field,
            e => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn defaults_follow_trw() {
        let s = Settings::compile(&Config::default()).unwrap();
        // ln 4 = 1.386 nats, ln 99 = 4.595 nats: four net failures decide.
        assert_eq!(s.walk.fail_step, 355);
        assert_eq!(s.walk.success_step, -355);
        assert_eq!(s.walk.upper, 1176);
        assert_eq!(s.walk.lower, -1176);
        assert!(3 * s.walk.fail_step < s.walk.upper && 4 * s.walk.fail_step >= s.walk.upper);
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field_of("home_networks = ['10.0.0.0/8', '300.1.1.1/8']"),
            "home_networks[1]"
        );
        assert_eq!(field_of("allow = [{ net = 'x' }]"), "allow[0]");
        assert_eq!(field_of("theta0 = 1.5"), "theta0");
        assert_eq!(
            field_of("false_alarm_probability = 0.999"),
            "false_alarm_probability"
        );
        assert_eq!(field_of("memory_bytes = 10"), "memory_bytes");
        // Text over 1 MiB is refused before parsing, naming the limit.
        let mut big = "min_targets = 5\n".to_string();
        big.push_str(&"#".repeat(Config::MAX_TOML_BYTES));
        let e = Config::from_toml_str(&big).unwrap_err().to_string();
        assert!(e.contains("1048576 bytes (1 MiB)"), "{e}");
        let mut fits = "min_targets = 5\n#".to_string();
        fits.push_str(&"x".repeat(Config::MAX_TOML_BYTES - fits.len()));
        assert!(Config::from_toml_str(&fits).is_ok());
        assert_eq!(field_of("memory_bytes = 131071"), "memory_bytes");
        assert!(Config::from_toml_str("memory_bytes = 131072\nshards = 1").is_ok());
        assert_eq!(field_of("shards = 0"), "shards");
        assert_eq!(field_of("min_targets = 1"), "min_targets");
        assert_eq!(field_of("idle_timeout_secs = 0"), "idle_timeout_secs");
        assert_eq!(field_of("no_such_knob = 3"), "no_such_knob");
        // A value of the wrong type: the key it belongs to.
        assert_eq!(field_of("min_targets = 'five'"), "min_targets");
        assert_eq!(field_of("min_targets = 5\nshards = \"8\""), "shards");
        let e = Config::from_toml_str("min_targets = 5\nshards = \"8\"").unwrap_err();
        assert!(e.to_string().contains("(line 2)"), "{e}");
        // A document that does not parse: no key, even after good ones.
        assert_eq!(field_of("[[[broken"), "toml");
        assert_eq!(field_of("min_targets = 5\nshards = "), "toml");
    }

    #[test]
    fn memory_is_a_number_of_bytes_or_a_size_with_a_unit() {
        let mem = |t: &str| Config::from_toml_str(t).map(|c| c.memory_bytes);
        assert_eq!(mem("memory_bytes = 16777216"), Ok(16 << 20));
        assert_eq!(mem("memory_bytes = \"16MiB\""), Ok(16 << 20));
        assert_eq!(mem("memory_bytes = \"1 gb\""), Ok(1 << 30));
        // The same bounds whichever way it is written.
        assert_eq!(field_of("memory_bytes = \"64k\""), "memory_bytes");
        let e = Config::from_toml_str("memory_bytes = \"12 parsecs\"").unwrap_err();
        assert!(
            e.to_string().contains("memory_bytes") && e.to_string().contains("unknown unit"),
            "{e}"
        );
        assert_eq!(field_of("memory_bytes = -5"), "memory_bytes");
        assert_eq!(field_of("memory_bytes = 1.5"), "memory_bytes");
        // Written back as a number, which reads again as the same.
        let cfg = mem("memory_bytes = \"16MiB\"").map(|m| Config {
            memory_bytes: m,
            ..Config::default()
        });
        let text = toml::to_string(&cfg.unwrap()).unwrap();
        assert!(text.contains("memory_bytes = 16777216"), "{text}");
        assert_eq!(mem(&text), Ok(16 << 20));
    }

    /// A misspelt key in an allow rule must not widen it to every port.
    #[test]
    fn an_allow_rule_with_an_unknown_key_is_refused() {
        let text = "allow = [{ net = \"192.0.2.10/32\", port = [161] }]";
        let e = Config::from_toml_str(text).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid configuration: allow: unknown field `port`, expected `net` or `ports` (line 1)"
        );
        // The table form, on its own lines: the rule's line is named.
        let text = "min_targets = 5\n[[allow]]\nnet = \"192.0.2.10/32\"\nport = [161]\n";
        let e = Config::from_toml_str(text).unwrap_err().to_string();
        assert!(e.contains("allow: unknown field `port`"), "{e}");
        for (text, said) in [
            ("allow = [{ ports = [22] }]", "allow: missing field `net`"),
            (
                "allow = [5]",
                "allow: invalid type: integer `5`, expected a block",
            ),
            (
                "allow = [{ net = \"192.0.2.0/24\", ports = [\"ssh\"] }]",
                "allow: invalid type: string \"ssh\", expected u16",
            ),
        ] {
            let e = Config::from_toml_str(text).unwrap_err().to_string();
            assert!(e.contains(said), "{text}: {e}");
        }
        assert!(
            Config::from_toml_str("allow = [{ net = \"192.0.2.10/32\", ports = [161] }]").is_ok()
        );
    }

    #[test]
    fn allow_rules_respect_ports() {
        let c = Config::from_toml_str(
            "allow = ['192.0.2.1', { net = '198.51.100.0/24', ports = [161] }]",
        )
        .unwrap();
        let s = Settings::compile(&c).unwrap();
        let allowed = |ip: &str, port| {
            let k = crate::net::AddrKey::from(ip.parse::<std::net::IpAddr>().unwrap());
            let (key, lead) = (k.bits(), k.lead());
            s.allowed(key, lead, port)
        };
        assert!(allowed("192.0.2.1", 22));
        assert!(allowed("198.51.100.9", 161));
        assert!(!allowed("198.51.100.9", 22));
        assert!(!allowed("192.0.2.2", 22));
    }

    #[test]
    fn the_screen_passes_only_events_a_rule_may_apply_to() {
        let c = Config::from_toml_str(
            "allow = ['198.51.100.0/24', '2001:db8::/32']\n\
             ignore_ports = [137]\n\
             ignore_networks = ['224.0.0.0/4']",
        )
        .unwrap();
        let s = Settings::compile(&c).unwrap();
        let lead =
            |ip: &str| crate::net::AddrKey::from(ip.parse::<std::net::IpAddr>().unwrap()).lead();
        let may = |src: &str, dst: &str, port| s.may_screen(lead(src), lead(dst), port);
        assert!(!may("10.0.0.1", "8.8.8.8", 443));
        assert!(may("10.0.0.1", "8.8.8.8", 137), "ignored port");
        assert!(may("10.0.0.1", "239.1.2.3", 443), "ignored destination");
        assert!(
            !may("239.1.2.3", "8.8.8.8", 443),
            "ignored block as a source"
        );
        assert!(may("198.51.100.7", "8.8.8.8", 443), "allowed source");
        assert!(
            !may("8.8.8.8", "198.51.100.7", 443),
            "allowed block as a target"
        );
        assert!(
            may("2001:db8::1", "2001:db9::1", 443),
            "allowed IPv6 source"
        );
        assert!(!may("3001:db8::1", "2001:db8::1", 443));
        // IPv4 octet 32 and IPv6 byte 0x20 have different indexes.
        assert!(!may("32.1.13.184", "8.8.8.8", 443));
    }

    #[test]
    fn the_keys_a_text_sets_are_reported_with_the_same_config_and_errors() {
        let text = "home_networks = ['10.0.0.0/8']\n\
                    min_targets = 5 # the default, still reported\n\
                    [[allow]]\n\
                    net = '198.51.100.0/24'\n\
                    [[allow]]\n\
                    net = '192.0.2.1'\n";
        let (c, keys) = Config::from_toml_str_with_keys(text).unwrap();
        assert_eq!(c, Config::from_toml_str(text).unwrap());
        assert_eq!(keys, ["home_networks", "min_targets", "allow"]);
        let (c, keys) = Config::from_toml_str_with_keys("# nothing set\n").unwrap();
        assert_eq!((c, keys), (Config::default(), Vec::<String>::new()));
        // Errors are those of `from_toml_str`, line numbers included.
        let mut big = "min_targets = 5\n".to_string();
        big.push_str(&"#".repeat(Config::MAX_TOML_BYTES));
        for text in [
            "min_targets = 6\nno_such_knob = 3",
            "min_targets = 'five'",
            "\n\nshards = -1",
            "[[[broken",
            "min_targets = 1",
            "home_networks = ['10.0.0.0/8', '300.1.1.1/8']",
            "allow = [{ ports = [1] }]",
            &big,
        ] {
            assert_eq!(
                Config::from_toml_str_with_keys(text).unwrap_err(),
                Config::from_toml_str(text).unwrap_err(),
                "{text}"
            );
        }
    }
}
