//! Memory sizes written with units (`64MiB`, `1 gb`, `512k`), the one parser
//! of them for every front end: the TOML configuration, the Suricata
//! plugin's YAML.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// A size such as `67108864`, `64mb`, `64MiB` or `1 GiB`: a whole number of
/// bytes with an optional unit, `b`, `k`/`kb`/`kib`, `m`/`mb`/`mib` or
/// `g`/`gb`/`gib`, in any case. Units are powers of 1024, as in Suricata's
/// configuration.
///
/// # Errors
/// Text that is no such size, or one over `u64::MAX` bytes; the message
/// quotes the text.
///
/// # Examples
/// ```
/// use sweepwatch::parse_size;
/// assert_eq!(parse_size("64MiB"), Ok(64 << 20));
/// assert_eq!(parse_size("1 gb"), Ok(1 << 30));
/// assert_eq!(parse_size("4096"), Ok(4096));
/// assert!(parse_size("12 parsecs").unwrap_err().contains("unknown unit"));
/// ```
pub fn parse_size(v: &str) -> Result<u64, String> {
    let t = v.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{v:?} is not a size"))?;
    let mult: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{v:?}: unknown unit (use kb, mb or gb)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{v:?} is too large"))
}

/// Reads a size as a number of bytes or as text for [`parse_size`]
/// (`#[serde(deserialize_with = "size::bytes")]`).
pub(crate) fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct Size;

    impl Visitor<'_> for Size {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number of bytes or a size such as \"64MiB\"")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("{v} is not a size")))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            parse_size(v).map_err(E::custom)
        }
    }

    d.deserialize_any(Size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_and_without_units() {
        assert_eq!(parse_size("64mb"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert_eq!(parse_size(" 512k "), Ok(512 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4096b"), Ok(4096));
        assert!(parse_size("mb").is_err());
        assert!(parse_size("-1mb").is_err());
        assert!(parse_size("1.5gb").is_err());
        assert!(parse_size("1tb").unwrap_err().contains("unknown unit"));
        assert!(parse_size("99999999999999gb")
            .unwrap_err()
            .contains("too large"));
    }
}
