//! The command as a Unix tool: usage without arguments, data alone on
//! standard output, manual pages that `groff` reads without a warning, and
//! shell completions that bash completes with.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sweepwatch"))
        .args(args)
        .output()
        .expect("run sweepwatch")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("unix")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The long options `sweepwatch SUB --help` lists.
fn long_options(sub: &str) -> Vec<String> {
    let out = run(&[sub, "--help"]);
    assert!(out.status.success());
    let mut opts: Vec<String> = text(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.trim_start()
                .split([' ', ',', '=', '<'])
                .find(|w| w.starts_with("--"))
        })
        .map(str::to_string)
        .collect();
    opts.dedup();
    assert!(opts.contains(&"--help".to_string()), "{sub}: {opts:?}");
    opts
}

#[test]
fn without_arguments_usage_is_printed_once_on_standard_error() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert_eq!(err.matches("Usage: sweepwatch").count(), 1, "{err}");
    for sub in ["detect", "watch", "completions"] {
        assert!(err.contains(sub), "{sub} missing: {err}");
    }
}

#[test]
fn help_shows_examples_and_exit_status() {
    let out = run(&["detect", "--help"]);
    let help = text(&out.stdout);
    assert!(
        help.contains("Examples:\n  sweepwatch detect capture.pcap"),
        "{help}"
    );
    assert!(help.contains("Exit status: 0 success"), "{help}");
}

/// slips' horizontal conn.log has no scanner (see `cli.rs`): in table mode
/// the message saying so goes to standard error, and standard output, which
/// scripts read, stays empty.
#[test]
fn no_verdicts_leaves_standard_output_empty() {
    let log = Path::new(DATA).join("slips/port-scans-horizontal/conn.log");
    if !log.exists() {
        eprintln!("skipping: {} is absent", log.display());
        return;
    }
    let out = run(&["detect", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    assert_eq!(err.matches("no sweeps or scans found").count(), 1, "{err}");
    let quiet = run(&["detect", "--quiet", log.to_str().unwrap()]);
    assert_eq!(
        (text(&quiet.stdout), text(&quiet.stderr)),
        (String::new(), String::new())
    );
}

#[test]
fn manual_pages_read_cleanly_and_list_every_option() {
    let dir = scratch("man");
    let out = run(&["man", "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "sweepwatch-aggregate.1",
            "sweepwatch-collect.1",
            "sweepwatch-completions.1",
            "sweepwatch-detect.1",
            "sweepwatch-watch.1",
            "sweepwatch.1"
        ]
    );
    for name in &names {
        let page = dir.join(name);
        // -ww: every warning; -z: no output, only the diagnostics.
        let groff = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&page)
            .output()
            .expect("groff (Debian: groff-base) formats manual pages");
        assert!(groff.status.success(), "{name}");
        assert_eq!(text(&groff.stderr), "", "{name}: groff warns");
        // The page as a reader sees it: options are shown without roff's
        // escapes once formatted.
        let shown = Command::new("groff")
            .args(["-man", "-Tascii", "-P-cbou"])
            .arg(&page)
            .output()
            .unwrap();
        let shown = text(&shown.stdout);
        if let Some(sub) = name
            .strip_prefix("sweepwatch-")
            .and_then(|n| n.strip_suffix(".1"))
        {
            for opt in long_options(sub) {
                assert!(shown.contains(&opt), "{name} lacks {opt}");
            }
            assert!(shown.contains("EXAMPLES"), "{name}");
        }
    }
    let main = text(&std::fs::read(dir.join("sweepwatch.1")).unwrap());
    assert!(main.contains(".SH SUBCOMMANDS") || main.contains(".SH \"SUBCOMMANDS\""));
    // The page alone, as `man` would be fed it.
    let alone = run(&["man"]);
    assert_eq!(text(&alone.stdout), main);
}

/// The bash script, sourced in a real bash, completes subcommands and
/// options: what `sweepwatch de<TAB>` and `sweepwatch detect --home<TAB>`
/// offer.
#[test]
fn bash_completes_subcommands_and_options() {
    let out = run(&["completions", "bash"]);
    assert!(out.status.success());
    let script = scratch("bash").join("sweepwatch.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let complete = |line: &str| -> Vec<String> {
        let words: Vec<&str> = line.split(' ').collect();
        let program = format!(
            "source {script}\n\
             COMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_LINE='{line}'\nCOMP_POINT={point}\n\
             _sweepwatch sweepwatch '{cur}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            script = script.display(),
            words = words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
            cword = words.len() - 1,
            point = line.len(),
            cur = words[words.len() - 1],
            prev = words[words.len() - 2],
        );
        let out = Command::new("bash")
            .args(["--norc", "-c", &program])
            .output()
            .expect("bash");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).lines().map(str::to_string).collect()
    };
    assert_eq!(complete("sweepwatch de"), ["detect"]);
    assert_eq!(complete("sweepwatch detect --home"), ["--home-net"]);
    assert_eq!(complete("sweepwatch watch --reorder-s"), ["--reorder-secs"]);
    assert_eq!(complete("sweepwatch completions f"), ["fish"]);
}

#[test]
fn every_shell_has_completions_and_an_unknown_one_is_a_usage_error() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        // fish names long options without their dashes.
        assert!(text(&out.stdout).contains("home-net"), "{shell}");
    }
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid value 'tcsh'"),
        "{}",
        text(&out.stderr)
    );
}
