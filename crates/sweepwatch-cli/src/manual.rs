//! `sweepwatch completions SHELL` and `sweepwatch man`: the shell completion
//! scripts and manual pages, generated from the same definitions clap parses
//! with, so they never describe options the command does not have.

use crate::args::Cli;
use clap::CommandFactory;
use clap_complete::Shell;
use std::io::{self, Write};
use std::path::Path;

/// Writes `shell`'s completion script to `out`.
pub fn completions(shell: Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "sweepwatch", out);
}

/// The command as the pages describe it: built, so that subcommands carry
/// their full names (`sweepwatch-detect`).
fn command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Writes the manual page of `sweepwatch` itself to `out`.
pub fn page(out: &mut dyn Write) -> io::Result<()> {
    render(&command(), out)
}

/// Writes `sweepwatch.1` and a page for each subcommand shown in `--help`
/// (`sweepwatch-detect.1`, ...) into `dir`, returning the files written.
pub fn pages_into(dir: &Path) -> io::Result<Vec<std::path::PathBuf>> {
    let cmd = command();
    let mut written = Vec::new();
    let subs = cmd.get_subcommands().filter(|s| !s.is_hide_set());
    for c in std::iter::once(&cmd).chain(subs) {
        let man = clap_mangen::Man::new(c.clone());
        let path = dir.join(man.get_filename());
        let mut file = io::BufWriter::new(std::fs::File::create(&path)?);
        render(c, &mut file)?;
        file.flush()?;
        written.push(path);
    }
    Ok(written)
}

/// One page: clap_mangen's sections, then the text after `--help` as
/// sections of their own (EXAMPLES, EXIT STATUS) where clap_mangen would
/// put it under one "EXTRA".
fn render(cmd: &clap::Command, out: &mut dyn Write) -> io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone())
        .manual("sweepwatch manual")
        .source(concat!("sweepwatch ", env!("CARGO_PKG_VERSION")));
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(out)?;
    }
    if let Some(after) = cmd.get_after_help() {
        out.write_all(after_help_sections(&after.to_string()).as_bytes())?;
    }
    match cmd.get_version() {
        Some(_) => man.render_version_section(out),
        None => Ok(()),
    }
}

/// The text after `--help`, in paragraphs that each start with a heading
/// line ("Examples:", "Exit status: ..."), as roff sections: examples kept
/// line by line, other paragraphs filled.
fn after_help_sections(text: &str) -> String {
    let mut roff = String::new();
    for para in text.split("\n\n") {
        let (head, body) = match para.split_once(':') {
            Some((h, b)) if !h.contains('\n') && h.len() < 20 => (h, b),
            _ => ("Notes", para),
        };
        roff.push_str(&format!(".SH \"{}\"\n", head.to_uppercase()));
        let body = body.trim_start_matches(' ');
        let lines = body.strip_prefix('\n');
        match lines {
            Some(lines) => {
                roff.push_str(".nf\n");
                for line in lines.lines() {
                    roff.push_str(&escape(line.strip_prefix("  ").unwrap_or(line)));
                    roff.push('\n');
                }
                roff.push_str(".fi\n");
            }
            None => {
                roff.push_str(&escape(body.trim()));
                roff.push('\n');
            }
        }
    }
    roff
}

/// `line` as roff text: backslashes written as `\e`, and a leading `.` or
/// `'` (which roff would read as a request) guarded.
fn escape(line: &str) -> String {
    let line = line.replace('\\', "\\e");
    match line.starts_with(['.', '\'']) {
        true => format!("\\&{line}"),
        false => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_help_becomes_examples_and_exit_status() {
        let roff = after_help_sections(
            "Examples:\n  sweepwatch detect a.pcap \\\n  .b\n\nExit status: 0 fine; 2 usage.",
        );
        assert_eq!(
            roff,
            ".SH \"EXAMPLES\"\n.nf\nsweepwatch detect a.pcap \\e\n\\&.b\n.fi\n\
             .SH \"EXIT STATUS\"\n0 fine; 2 usage.\n"
        );
    }

    #[test]
    fn every_shell_gets_a_script_naming_every_subcommand() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            completions(shell, &mut out);
            let text = String::from_utf8(out).expect("UTF-8");
            for word in ["detect", "watch", "home-net", "reorder-secs"] {
                assert!(text.contains(word), "{shell}: no {word}");
            }
        }
    }
}
