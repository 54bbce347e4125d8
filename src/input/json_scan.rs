//! A borrowed, single-pass walk over one JSON object that hands the caller
//! the values of the keys it asks for and skips the rest, checking their
//! syntax as it goes, without building a tree or copying strings.
//!
//! The EVE reader needs a dozen fields of a flow record that is about 500
//! bytes long; deserialising the whole record with `serde_json` cost 1.2 µs a
//! record, most of it scanning fields that are then ignored (see the README's
//! *Reading EVE* note for the measured figures).
//!
//! What is checked: the structure (objects, arrays, strings and their escapes,
//! literals, the characters of numbers), nesting depth, and that nothing but
//! whitespace follows the object. What is not: the full grammar of numbers
//! that are skipped, and control characters inside strings.

use std::borrow::Cow;

/// Deeper nesting than this is refused rather than followed.
const MAX_DEPTH: u32 = 128;

/// A JSON syntax or type error, with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    pub at: usize,
    pub what: &'static str,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

pub(crate) type Result<T> = std::result::Result<T, JsonError>;

/// The offset of the first `"` or `\\` in `b`, or `b.len()`.
///
/// Eight bytes a step (SWAR): EVE's strings are short (keys, addresses,
/// times), too short for a vectorised search's set-up to pay, and a byte loop
/// cost twice the instructions.
fn quote_or_backslash(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Bit 7 of each byte equal to `c` (exact for the lowest such byte, which
    // is all that is used).
    let find = |w: u64, c: u8| {
        let x = w ^ (ONES * u64::from(c));
        x.wrapping_sub(ONES) & !x & HIGH
    };
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let m = find(w, b'"') | find(w, b'\\');
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .unwrap_or(b.len() - i)
}

/// A position in one JSON text.
pub(crate) struct Cursor<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a str) -> Cursor<'a> {
        Cursor { text, i: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// An error at the cursor.
    pub(crate) fn err<T>(&self, what: &'static str) -> Result<T> {
        Err(JsonError { at: self.i, what })
    }

    fn ws(&mut self) {
        let b = self.bytes();
        while let Some(c) = b.get(self.i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.i).copied()
    }

    fn eat(&mut self, c: u8, what: &'static str) -> Result<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(what)
        }
    }

    /// The raw text of a string whose opening quote is at the cursor, without
    /// its quotes, and whether it holds escapes.
    fn raw_string(&mut self) -> Result<(&'a str, bool)> {
        let b = self.bytes();
        debug_assert_eq!(b.get(self.i), Some(&b'"'));
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        loop {
            j += quote_or_backslash(&b[j..]);
            let Some(&c) = b.get(j) else { break };
            match c {
                b'"' => {
                    self.i = j + 1;
                    // Both ends are ASCII quotes, so these are char boundaries.
                    return Ok((&self.text[start..j], escaped));
                }
                b'\\' => {
                    escaped = true;
                    match b.get(j + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 2,
                        Some(b'u')
                            if b.get(j + 2..j + 6)
                                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                        {
                            j += 6
                        }
                        _ => {
                            self.i = j;
                            return self.err("bad escape in string");
                        }
                    }
                }
                _ => unreachable!("quote_or_backslash stops only at these"),
            }
        }
        self.i = b.len();
        self.err("unterminated string")
    }

    /// A string value, unescaped only when it holds escapes.
    fn string(&mut self) -> Result<Cow<'a, str>> {
        let at = self.i;
        let (raw, escaped) = self.raw_string()?;
        if !escaped {
            return Ok(Cow::Borrowed(raw));
        }
        // Rare in EVE (no address, time or flag field has escapes): let
        // serde_json decode the escapes of this one string.
        serde_json::from_str::<String>(&self.text[at..self.i])
            .map(Cow::Owned)
            .map_err(|_| JsonError {
                at,
                what: "bad escape in string",
            })
    }

    /// The text of a number at the cursor (its characters, not its grammar).
    fn number(&mut self) -> Result<&'a str> {
        let b = self.bytes();
        let start = self.i;
        while let Some(c) = b.get(self.i) {
            if !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                break;
            }
            self.i += 1;
        }
        if self.i == start {
            return self.err("expected a value");
        }
        Ok(&self.text[start..self.i])
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<()> {
        if self.bytes()[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            self.err("expected a value")
        }
    }

    /// Skips one value of any type, checking its syntax.
    pub(crate) fn skip(&mut self) -> Result<()> {
        self.skip_at(0)
    }

    fn skip_at(&mut self, depth: u32) -> Result<()> {
        match self.peek() {
            Some(b'"') => self.raw_string().map(drop),
            Some(b'{') => {
                if depth >= MAX_DEPTH {
                    return self.err("nested too deeply");
                }
                self.fields(|c, _| c.skip_at(depth + 1))
            }
            Some(b'[') => {
                if depth >= MAX_DEPTH {
                    return self.err("nested too deeply");
                }
                self.i += 1;
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.skip_at(depth + 1)?;
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return self.err("expected `,` or `]`"),
                    }
                }
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(_) => self.number().map(drop),
            None => self.err("expected a value"),
        }
    }

    /// Walks the object at the cursor, calling `f` with each key (raw, as
    /// written between its quotes); `f` must consume the key's value, with
    /// [`skip`](Self::skip) or one of the typed readers.
    pub(crate) fn fields(
        &mut self,
        mut f: impl FnMut(&mut Self, &'a str) -> Result<()>,
    ) -> Result<()> {
        self.eat(b'{', "expected an object")?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return self.err("expected a key");
            }
            let (key, _) = self.raw_string()?;
            self.eat(b':', "expected `:`")?;
            f(self, key)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return self.err("expected `,` or `}`"),
            }
        }
    }

    /// Checks that only whitespace is left.
    pub(crate) fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.err("trailing characters"),
        }
    }

    /// Whether the value at the cursor is `null`, which it then consumes.
    pub(crate) fn null(&mut self) -> Result<bool> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// A string or `null`.
    pub(crate) fn opt_str(&mut self) -> Result<Option<Cow<'a, str>>> {
        match self.peek() {
            Some(b'"') => self.string().map(Some),
            Some(b'n') => self.literal(b"null").map(|()| None),
            _ => self.err("expected a string"),
        }
    }

    /// A non-negative integer no larger than `max`, or `null`.
    pub(crate) fn opt_uint(&mut self, max: u64) -> Result<Option<u64>> {
        if self.null()? {
            return Ok(None);
        }
        let at = self.i;
        let text = self.number()?;
        match text.parse::<u64>() {
            Ok(n) if n <= max && text.bytes().all(|c| c.is_ascii_digit()) => Ok(Some(n)),
            _ => Err(JsonError {
                at,
                what: "expected an unsigned integer in range",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key and its skipped value, or the error.
    fn keys(text: &str) -> Result<Vec<String>> {
        let mut c = Cursor::new(text);
        let mut out = Vec::new();
        c.fields(|c, k| {
            out.push(k.to_string());
            c.skip()
        })?;
        c.end()?;
        Ok(out)
    }

    #[test]
    fn skips_every_kind_of_value() {
        let text =
            r#" {"a":"x\"}\\","b":{"c":[1,-2.5e3,true,false,null,{}],"d":[]},"e":"\u00e9"} "#;
        assert_eq!(keys(text).unwrap(), ["a", "b", "e"]);
        assert_eq!(keys("{}").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn rejects_what_is_not_json() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":"x}"#,
            r#"{"a":"\q"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":tru}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":1} x"#,
            r#"{a:1}"#,
        ] {
            assert!(keys(bad).is_err(), "{bad:?} accepted");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(keys(&deep).unwrap_err().what, "nested too deeply");
    }

    #[test]
    fn typed_values() {
        let mut c =
            Cursor::new(r#"{"s":"a\nb","t":"plain","n":null,"p":65535,"q":65536,"r":-1,"f":1.0}"#);
        let mut seen = Vec::new();
        c.fields(|c, k| {
            let v = match k {
                "s" | "t" | "n" => format!("{:?}", c.opt_str()?),
                "p" => format!("{:?}", c.opt_uint(65535)?),
                _ => format!("{:?}", c.opt_uint(65535).map_err(|e| e.what)),
            };
            seen.push(format!("{k}={v}"));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                "s=Some(\"a\\nb\")",
                "t=Some(\"plain\")",
                "n=None",
                "p=Some(65535)",
                "q=Err(\"expected an unsigned integer in range\")",
                "r=Err(\"expected an unsigned integer in range\")",
                "f=Err(\"expected an unsigned integer in range\")",
            ]
        );
    }
}
