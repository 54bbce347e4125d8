//! The command line: subcommands and their options, as clap reads them and as
//! the manual page and shell completions describe them.

use crate::output;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use sweepwatch::Cidr;

/// `sweepwatch` and its subcommands.
#[derive(Parser, Debug)]
#[command(
    name = "sweepwatch",
    version,
    about = "Finds port sweeps, port scans and outbound sweeps in captures and engine logs",
    long_about = "Finds the hosts that sweep one port across many hosts (port sweep), \
        probe many ports of one host (port scan), or, from the home networks, mostly \
        fail to reach outside hosts (outbound sweep), in pcap and pcapng captures, \
        Zeek conn.log, Suricata EVE JSON, Argus flows (ra -c ,) and nfdump's flows \
        (nfdump -o csv), plain or compressed \
        (gzip, zstd, xz, bzip2).",
    after_help = EXAMPLES,
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Examples shown under `--help` and in the manual page.
pub const EXAMPLES: &str = "Examples:
  sweepwatch detect capture.pcap
  sweepwatch detect --home-net 10.0.0.0/8 --json eve.json.gz > verdicts.jsonl
  sweepwatch watch --output /var/log/sweepwatch.json --json /var/log/suricata/eve.json
  sweepwatch completions bash > /etc/bash_completion.d/sweepwatch";

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Reads captures and logs and reports the sources that sweep or scan.
    ///
    /// Inputs may be pcap, pcapng, Zeek conn.log (tab-separated or JSON),
    /// Suricata EVE JSON, Argus flow records as `ra -c ,` prints them
    /// (CTU-13's binetflow) or nfdump's flows as `nfdump -o csv` prints
    /// them, plain or compressed with gzip, zstd, xz or bzip2; the format is
    /// recognised from the content. `-` reads standard input. An input that
    /// cannot be read is reported and skipped, and the exit code is then 1.
    /// Verdicts go to standard output; progress, warnings, the summary and
    /// "no sweeps or scans found" to standard error.
    #[command(after_help = "Examples:
  sweepwatch detect capture.pcap
  sweepwatch detect --home-net 192.168.0.0/16 --allow 192.168.1.5 day1.pcap.zst day2.pcap.zst
  sweepwatch detect --json --quiet conn.log.gz | jq .src

Exit status: 0 success, with or without verdicts; 1 an input could not be read \
(the others were), or no packet of a capture could be decoded; 2 usage or configuration error.")]
    Detect(DetectArgs),
    /// Follows growing logs and reports sweeps and scans as they are decided.
    ///
    /// Reads Suricata EVE JSON and Zeek conn.log (tab-separated or JSON) as
    /// an engine writes them, through rotation (a file renamed away and
    /// recreated, or cut back in place), holding events for --reorder-secs of
    /// their time to put them in the order their probes were made (engines
    /// log a connection when it ends). Verdicts are written and flushed as
    /// they are decided. SIGINT or SIGTERM ends it: held events are fed, the
    /// final extent of every reported source is written, then the summary.
    #[command(after_help = "Examples:
  sweepwatch watch /var/log/suricata/eve.json
  sweepwatch watch --json --output /var/log/sweepwatch.json --state /var/lib/sweepwatch/state \\
      /var/log/suricata/eve.json

Exit status: 0 after SIGINT or SIGTERM; 1 a path could not be read; 2 usage or configuration error.")]
    Watch(WatchArgs),
    /// Joins the first contacts many sensors publish (`detect --publish`,
    /// `watch --publish`) on NATS JetStream, and reports each source's
    /// sweeps and scans as one sensor seeing all of its probes would.
    ///
    /// Sources are spread over a fixed number of partitions; each
    /// aggregator takes its share by lease, runs a detector for each
    /// partition it owns, checkpoints them to JetStream's object store, and
    /// takes over the partitions of one that stops. Each verdict is written
    /// once across all aggregators and restarts (to standard output, and to
    /// the subject sweepwatch.verdicts). A --config's memory_bytes, shards
    /// and hash_seed are not used: those are the deployment's.
    #[command(after_help = "Examples:
  sweepwatch aggregate --nats nats://127.0.0.1:4222 --json >> /var/log/sweepwatch.json
  sweepwatch aggregate --nats nats://10.0.0.2:4222 --name agg-2 --format eve

Exit status: 0 after SIGINT or SIGTERM, or when idle for --exit-when-idle; \
1 the server could not be used; 2 usage or configuration error.")]
    Aggregate(AggregateArgs),

    /// Collects flow telemetry (NetFlow v5 and v9, IPFIX) from routers,
    /// firewalls and flow probes over UDP and reports the sources that sweep
    /// or scan.
    ///
    /// Any number of exporters may send at once; each one's templates are
    /// kept apart. Unidirectional records are paired with their reverse
    /// (the same addresses and ports swapped) within --pair-secs of flow
    /// time to tell a probe's outcome; biflows (IPFIX, RFC 5103) carry
    /// both. Verdicts are written as they are decided, in detect's formats;
    /// where an exporter declares packet sampling, each verdict says so
    /// (`sampling`: one packet in N). The summary on standard error counts
    /// what each exporter sent.
    #[command(after_help = "Examples:
  sweepwatch collect --listen 0.0.0.0:2055 --json >> /var/log/sweepwatch.json
  softflowd -i eth0 -n 127.0.0.1:2055 -v 10 &  sweepwatch collect --listen 127.0.0.1:2055

Exit status: 0 after SIGINT or SIGTERM, or when idle for --exit-when-idle; \
1 the address cannot be listened on; 2 usage or configuration error.")]
    Collect(CollectArgs),
    /// Writes a shell's completion script for sweepwatch to standard output.
    #[command(after_help = "Examples:
  sweepwatch completions bash > /etc/bash_completion.d/sweepwatch
  sweepwatch completions zsh > /usr/local/share/zsh/site-functions/_sweepwatch
  sweepwatch completions fish > ~/.config/fish/completions/sweepwatch.fish")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Writes the manual pages (roff) of sweepwatch and its subcommands.
    ///
    /// Without --dir, the page of sweepwatch itself goes to standard output;
    /// with it, sweepwatch.1, sweepwatch-detect.1 and the others are written
    /// into DIR.
    #[command(hide = true)]
    Man {
        /// The directory to write every page into.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Options of `aggregate`.
#[derive(Args, Debug)]
pub struct AggregateArgs {
    /// The NATS server with JetStream, e.g. nats://127.0.0.1:4222.
    #[arg(long, value_name = "URL")]
    pub nats: String,

    /// This aggregator's name, unique in the deployment [default: host name
    /// and process id].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Partitions sources are spread over, for a new deployment (an existing
    /// one keeps its own).
    #[arg(long, value_name = "N", default_value_t = 8,
        value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub partitions: u32,

    /// Memory of each partition's detector in MiB, for a new deployment.
    #[arg(long, value_name = "MIB", default_value_t = 16,
        value_parser = clap::value_parser!(u64).range(1..=1 << 16))]
    pub partition_memory: u64,

    /// Copies of the stream and stores it makes (3 in a 3-node cluster).
    #[arg(long, value_name = "N", default_value_t = 1,
        value_parser = clap::value_parser!(u64).range(1..=5))]
    pub replicas: u64,

    /// The most MiB of events the stream keeps, for a new stream.
    #[arg(long, value_name = "MIB", default_value_t = 1024,
        value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub stream_mib: u64,

    /// The oldest events the stream keeps, in hours, for a new stream.
    #[arg(long, value_name = "HOURS", default_value_t = 168,
        value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub stream_hours: u64,

    /// Seconds a partition's lease lasts unrenewed: an aggregator that
    /// stops has its partitions taken over within this.
    #[arg(long, value_name = "SECS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub lease_secs: u64,

    /// Seconds between checkpoints of a partition with new events; a
    /// takeover replays at most this much.
    #[arg(long, value_name = "SECS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub checkpoint_secs: u64,

    /// Seconds of event time an event is held so that events of earlier
    /// probes from other sensors are fed first.
    #[arg(long, value_name = "SECS", default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(0..=1 << 30))]
    pub reorder_secs: u64,

    /// The most events held for ordering in each partition.
    #[arg(long, value_name = "EVENTS", default_value_t = 1 << 20,
        value_parser = clap::value_parser!(u64).range(0..=1 << 28))]
    pub reorder_window: u64,

    /// Stops after SECS without events: every held event is fed, the
    /// partitions are checkpointed and handed back. For replays of
    /// finished captures.
    #[arg(long, value_name = "SECS")]
    pub exit_when_idle: Option<u64>,

    /// Configuration and output, as for `collect` (the configuration's
    /// memory_bytes, shards and hash_seed are the deployment's).
    #[command(flatten)]
    pub verdicts: VerdictArgs,
}

/// What `aggregate` and `collect` share: the detector's configuration,
/// and where and how verdicts are written.
#[derive(Args, Debug)]
pub struct VerdictArgs {
    /// A TOML configuration file, as for `detect`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// A home network (repeatable), as for `detect`.
    #[arg(long = "home-net", value_name = "CIDR")]
    pub home_net: Vec<Cidr>,

    /// A source never reported (repeatable), as for `detect`.
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<Cidr>,

    /// Fewest distinct targets before a verdict, as for `detect`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub min_targets: Option<u32>,

    /// Writes verdicts as JSON Lines (as `--format json`).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// How verdicts are written, as for `detect` (`table` is written at the end).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<output::Format>,

    /// Appends verdicts to FILE instead of standard output, opening it
    /// again after SIGHUP (after logrotate renames it), at the next verdict.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Prints no summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `collect`.
#[derive(Args, Debug)]
pub struct CollectArgs {
    /// Where to listen for export packets (UDP), e.g. 0.0.0.0:2055.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,

    /// Seconds of flow time a unidirectional record waits for its reverse
    /// before its probe counts as unanswered.
    #[arg(long, value_name = "SECS", default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub pair_secs: u64,

    /// Seconds of flow time events are held to be fed in time order
    /// (exporters send flows when they end, not when they start).
    #[arg(long, value_name = "SECS", default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub reorder_secs: u64,

    /// Stops once no export packet has come for SECS (after the first):
    /// for replays (`softflowd -r`).
    #[arg(long, value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub exit_when_idle: Option<u64>,

    /// Fixes the hash seed (replays and tests only; unsafe on live traffic).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Configuration and output.
    #[command(flatten)]
    pub verdicts: VerdictArgs,
}

/// Options of `watch`.
#[derive(Args, Debug)]
pub struct WatchArgs {
    /// The options it shares with `detect`.
    #[command(flatten)]
    pub detect: DetectArgs,

    /// Seconds of event time an event is held so that later-logged events
    /// of earlier probes are fed first; also how long, without new input,
    /// before held events are fed anyway. Verdicts come at most this late.
    #[arg(long, value_name = "SECS", default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub reorder_secs: u64,

    /// Appends verdicts to FILE instead of standard output, opening it
    /// again on SIGHUP (after logrotate renames it). SIGHUP also reads
    /// --config again, keeping every source and scan in progress.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Milliseconds between looks at the followed files.
    #[arg(long, value_name = "MS", default_value_t = 200,
        value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub poll_ms: u64,

    /// Keeps the detector's state, where each file was read to and the
    /// events held for ordering in FILE: loaded at start, so that a restart
    /// goes on where the last run stopped; saved every --state-every
    /// seconds and on SIGINT or SIGTERM, which then end the run without
    /// final extents (the scans go on in the next run).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Seconds between saves of --state. A crash loses at most this much:
    /// the next run reads again from the last save.
    #[arg(long, value_name = "SECS", default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub state_every: u64,
}

/// Options of `detect`, which `watch` shares.
#[derive(Args, Debug)]
pub struct DetectArgs {
    /// Captures or logs to read, in this order.
    #[arg(value_name = "INPUT", required = true)]
    pub inputs: Vec<PathBuf>,

    /// A home network (repeatable). Replaces the default home networks (RFC 1918,
    /// 100.64.0.0/10, fc00::/7) and those of --config. Without it (or home
    /// networks in --config), a Zeek conn.log's local_orig and local_resp
    /// columns, where present, say which hosts are at home.
    #[arg(long = "home-net", value_name = "CIDR")]
    pub home_net: Vec<Cidr>,

    /// A source never reported, such as an authorised scanner (repeatable).
    /// Added to the allow-list of --config.
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<Cidr>,

    /// Detector configuration in TOML; the options above and --min-targets
    /// override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Fewest distinct targets (hosts for sweeps, ports for scans) before a
    /// verdict [default: 5, or --config's].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub min_targets: Option<u32>,

    /// Events held back to put inputs in time order before detection (engines
    /// log connections when they end; 0 feeds events as read). Each costs
    /// at most 112 bytes (the event, and room to sort it).
    #[arg(long, value_name = "EVENTS", default_value_t = 1 << 20,
        value_parser = clap::value_parser!(u64).range(0..=1 << 28))]
    pub reorder_window: u64,

    /// Memory of the flow tracker that pairs a capture's probes with their
    /// answers, in MiB; when full, its oldest probe is reported unanswered
    /// early (the summary counts them) [default: 64].
    #[arg(long, value_name = "MIB", default_value_t = 64,
        value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub flow_memory: u64,

    /// Probes of a capture still within their answer window when the input
    /// ends count as unanswered, as Zeek marks such connections (S0), instead
    /// of being left out (the input holds neither their answer nor their
    /// timeout). For captures filtered down to the probes, whose answers were
    /// never kept.
    #[arg(long)]
    pub pending_unanswered: bool,

    /// Where each event's zone comes from, so that the same address in two
    /// VLANs or tenants whose addresses overlap is two sources: `vlan` (a
    /// capture packet's outermost VLAN tag, an EVE record's first `vlan`
    /// id) or `tenant` (EVE's `tenant_id`); verdicts then carry `zone`.
    #[arg(long, value_enum, value_name = "FROM", default_value_t = ZonesFrom::None)]
    pub zones: ZonesFrom,

    /// Seed of the hashes that place sources in memory, for replays that
    /// evict and estimate exactly alike [default: random, or --config's
    /// hash_seed]. Unsafe on live traffic: who knows the seed can choose
    /// addresses that crowd one bucket and push a scanner out.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Writes verdicts as JSON Lines instead of a table (as `--format json`).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// How verdicts are written: `table` at the end of the input, or as they
    /// are decided, `json` (JSON Lines), `eve` (Suricata EVE sweep records),
    /// `notice` (Zeek's notice.log, tab-separated) or `notice-json` (Zeek's
    /// notice.log as JSON).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<output::Format>,

    /// Prints no progress and no summary (errors and warnings still go to
    /// standard error).
    #[arg(long, short)]
    pub quiet: bool,

    /// Also publishes first contacts to the NATS JetStream server at URL
    /// (e.g. nats://10.0.0.2:4222) for `sweepwatch aggregate`, which joins
    /// the sensors' views of each source; local detection goes on as
    /// without it. A server that cannot be reached at start is reported and
    /// publishing is off; events that cannot be published later are counted
    /// in the summary, never waited for.
    #[arg(long, value_name = "URL")]
    pub publish: Option<String>,
}

/// `--zones`: where events' zones come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ZonesFrom {
    /// Every address is one host.
    None,
    /// VLAN ids.
    Vlan,
    /// Suricata's tenant ids.
    Tenant,
}

impl From<ZonesFrom> for sweepwatch_input::Zones {
    fn from(z: ZonesFrom) -> Self {
        match z {
            ZonesFrom::None => sweepwatch_input::Zones::None,
            ZonesFrom::Vlan => sweepwatch_input::Zones::Vlan,
            ZonesFrom::Tenant => sweepwatch_input::Zones::Tenant,
        }
    }
}
