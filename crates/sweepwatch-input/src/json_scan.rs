//! A borrowed, single-pass walk over one JSON object that hands the caller
//! the values of the keys it asks for and skips the rest, checking their
//! syntax as it goes, without building a tree or copying strings.
//!
//! The EVE reader needs fifteen fields of a flow record about 600 bytes long;
//! deserialising the whole record with `serde_json` spent most of its time on
//! fields that are then ignored, and this walk costs well under half of that
//! (the README's *Reading EVE flow records* has the measured figures).
//!
//! The caller drives it: [`Cursor::object`] opens an object, [`Cursor::key`]
//! reads the next key (or says the object ended), and one of the value
//! readers or [`Cursor::skip`] consumes its value. Errors are a zero-sized
//! [`Stop`], so results stay register-sized on the hot path; the cursor keeps
//! what went wrong and where ([`Cursor::error`]).
//!
//! What is checked: the structure (objects, arrays, strings and their escapes,
//! literals, the characters of numbers), nesting depth, and that nothing but
//! whitespace follows the object. What is not: the full grammar of numbers
//! that are skipped, and control characters inside strings.

use std::borrow::Cow;

/// Deeper nesting than this is refused rather than followed.
const MAX_DEPTH: u32 = 128;

/// The walk stopped at malformed input; [`Cursor::error`] says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stop;

pub(crate) type Result<T> = std::result::Result<T, Stop>;

/// Bit 7 set in each byte of `w` (little-endian) that equals `c`: exact for
/// the lowest such byte, which is all that callers use (a borrow may also
/// mark bytes above a match).
#[inline(always)]
fn byte_mask(w: u64, c: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = w ^ (ONES * u64::from(c));
    x.wrapping_sub(ONES) & !x & HIGH
}

/// Bit 7 set in each byte of `w` that is not an ASCII digit: exact for the
/// lowest such byte (as for [`byte_mask`]).
#[inline(always)]
fn not_digits(w: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Digits become 0..=9; adding 0x76 to the low seven bits sets bit 7 of
    // every byte from 10 up, without a carry into the next byte.
    let x = w ^ 0x3030_3030_3030_3030;
    (((x & LOW7) + 0x7676_7676_7676_7676) | x) & HIGH
}

/// The offset of the first `"` or `\` in `b`, or `b.len()`.
///
/// Eight bytes a step (SWAR): EVE's strings are short (keys, addresses,
/// times), too short for a vectorised search's set-up to pay, and a byte loop
/// costs twice the instructions.
#[inline(always)]
fn quote_or_backslash(b: &[u8]) -> usize {
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let m = byte_mask(w, b'"') | byte_mask(w, b'\\');
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' {
            break;
        }
        i += 1;
    }
    i
}

/// A position in one JSON text.
pub(crate) struct Cursor<'a> {
    text: &'a str,
    i: usize,
    /// An object was just opened: its first key needs no comma.
    opened: bool,
    error: Option<(usize, &'static str)>,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a str) -> Cursor<'a> {
        Cursor {
            text,
            i: 0,
            opened: false,
            error: None,
        }
    }

    /// What stopped the walk and at which byte, after a [`Stop`].
    pub(crate) fn error(&self) -> (usize, &'static str) {
        self.error.unwrap_or((self.i, "malformed JSON"))
    }

    /// Records `what` at the cursor and stops.
    #[cold]
    pub(crate) fn fail<T>(&mut self, what: &'static str) -> Result<T> {
        self.error = Some((self.i, what));
        Err(Stop)
    }

    /// The byte at the cursor after any whitespace, 0 at the end.
    #[inline(always)]
    fn peek(&mut self) -> u8 {
        let b = self.text.as_bytes();
        loop {
            match b.get(self.i) {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.i += 1,
                Some(&c) => return c,
                None => return 0,
            }
        }
    }

    /// The raw text of a string whose opening quote is at the cursor, without
    /// its quotes, and whether it holds escapes.
    #[inline(always)]
    fn raw_string(&mut self) -> Result<(&'a str, bool)> {
        let (start, end, escaped) = self.string_span()?;
        // Both ends are next to ASCII quotes, so these are char boundaries.
        Ok((&self.text[start..end], escaped))
    }

    /// Where the raw text of the string at the cursor starts and ends, and
    /// whether it holds escapes; the cursor moves past its closing quote.
    /// Skipping a string needs no slice of the text (whose boundary checks
    /// cost as much as the scan of a short string).
    #[inline(always)]
    fn string_span(&mut self) -> Result<(usize, usize, bool)> {
        let b = self.text.as_bytes();
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        loop {
            j += quote_or_backslash(b.get(j..).unwrap_or_default());
            match b.get(j) {
                Some(b'"') => {
                    self.i = j + 1;
                    return Ok((start, j, escaped));
                }
                Some(_) => {
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
                            return self.fail("bad escape in string");
                        }
                    }
                }
                None => {
                    self.i = b.len();
                    return self.fail("unterminated string");
                }
            }
        }
    }

    /// Moves past the number at the cursor, checking its characters, not
    /// its grammar.
    #[inline(always)]
    fn number(&mut self) -> Result<()> {
        let b = self.text.as_bytes();
        let start = self.i;
        // Most numbers are integers: their digits eight at a time first.
        while let Some(chunk) = b.get(self.i..self.i + 8) {
            let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let other = not_digits(w);
            self.i += (other.trailing_zeros() / 8) as usize;
            if other != 0 {
                break;
            }
        }
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = b.get(self.i) {
            self.i += 1;
        }
        if self.i == start {
            return self.fail("expected a value");
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<()> {
        if self.text.as_bytes()[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            self.fail("expected a value")
        }
    }

    /// Opens the object at the cursor, for [`key`](Self::key) to walk.
    #[inline(always)]
    pub(crate) fn object(&mut self) -> Result<()> {
        if self.peek() != b'{' {
            return self.fail("expected an object");
        }
        self.i += 1;
        self.opened = true;
        Ok(())
    }

    /// The next key of the object being walked, with its `:` consumed, or
    /// `None` at the object's end (consumed). Its value must be consumed
    /// next, by a value reader or [`skip`](Self::skip).
    #[inline(always)]
    pub(crate) fn key(&mut self) -> Result<Option<&'a [u8]>> {
        let opened = std::mem::take(&mut self.opened);
        if let Some(key) = self.compact_key(opened) {
            return Ok(Some(key));
        }
        match self.peek() {
            b'}' => {
                self.i += 1;
                return Ok(None);
            }
            b',' if !opened => {
                self.i += 1;
                if self.peek() != b'"' {
                    return self.fail("expected a key");
                }
            }
            b'"' if opened => {}
            _ => return self.fail("expected `,` or `}`"),
        }
        let (text, _) = self.raw_string()?;
        if self.peek() != b':' {
            return self.fail("expected `:`");
        }
        self.i += 1;
        Ok(Some(text.as_bytes()))
    }

    /// The common case of [`key`](Self::key) without its general checks: a
    /// key written compactly, as Suricata writes them (`,"key":`, or
    /// `"key":` right after `{`), at most 15 bytes long and free of escapes.
    /// `None` sends everything else down the general path.
    #[inline(always)]
    fn compact_key(&mut self, opened: bool) -> Option<&'a [u8]> {
        let b = self.text.as_bytes();
        // One bounds check for the whole key: `,"` or `"`, up to 15 bytes,
        // `":`. Keys near the end of the text take the general path.
        let at = self.i + usize::from(!opened);
        let win: &[u8; 20] = b.get(at.checked_sub(1)?..at + 19)?.try_into().ok()?;
        if !(opened || win[0] == b',') || win[1] != b'"' {
            return None;
        }
        let load = |k: usize| u64::from_le_bytes(win[k..k + 8].try_into().expect("eight bytes"));
        // The offset of the closing quote in `w`, if no backslash comes first.
        let quote_in = |w: u64| -> Option<Option<u32>> {
            let (q, bs) = (byte_mask(w, b'"'), byte_mask(w, b'\\'));
            let (q, bs) = (q.trailing_zeros(), bs.trailing_zeros());
            if bs < q {
                return None;
            }
            Some((q < 64).then_some(q / 8))
        };
        let w0 = load(2);
        let len = match quote_in(w0)? {
            Some(n) => n as usize,
            None => 8 + quote_in(load(10))?? as usize,
        };
        // len <= 15, so 3 + len < 20.
        if win[3 + len] != b':' {
            return None;
        }
        let start = at + 1;
        self.i = start + len + 2;
        Some(&b[start..start + len])
    }

    /// Skips one value of any type, checking its syntax.
    #[inline(always)]
    pub(crate) fn skip(&mut self) -> Result<()> {
        self.skip_in(0)
    }

    /// [`skip`](Self::skip) at nesting `depth`. Scalars, most of what is
    /// skipped, are handled in line; only objects and arrays make a call.
    #[inline(always)]
    fn skip_in(&mut self, depth: u32) -> Result<()> {
        match self.peek() {
            b'"' => self.string_span().map(drop),
            b'0'..=b'9' | b'-' => self.number(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.skip_container(depth),
        }
    }

    #[inline(never)]
    fn skip_container(&mut self, depth: u32) -> Result<()> {
        if depth >= MAX_DEPTH {
            return self.fail("nested too deeply");
        }
        match self.peek() {
            b'{' => {
                self.object()?;
                while self.key()?.is_some() {
                    self.skip_in(depth + 1)?;
                }
                Ok(())
            }
            b'[' => self.opt_array(|c| c.skip_in(depth + 1)).map(drop),
            _ => self.fail("expected a value"),
        }
    }

    /// An array or `null`, calling `item` to consume each element in turn;
    /// `false` for `null`.
    pub(crate) fn opt_array(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<()>,
    ) -> Result<bool> {
        if self.null()? {
            return Ok(false);
        }
        if self.peek() != b'[' {
            return self.fail("expected an array");
        }
        self.i += 1;
        if self.peek() == b']' {
            self.i += 1;
            return Ok(true);
        }
        loop {
            item(self)?;
            match self.peek() {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Ok(true);
                }
                _ => return self.fail("expected `,` or `]`"),
            }
        }
    }

    /// Checks that only whitespace is left.
    pub(crate) fn end(&mut self) -> Result<()> {
        match self.peek() {
            0 if self.i >= self.text.len() => Ok(()),
            _ => self.fail("trailing characters"),
        }
    }

    /// Whether the value at the cursor is `null`, which it then consumes.
    #[inline(always)]
    pub(crate) fn null(&mut self) -> Result<bool> {
        if self.peek() == b'n' {
            self.literal(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// A string or `null`; escapes are decoded (rare in EVE: no address,
    /// time or flag field has them).
    #[inline(always)]
    pub(crate) fn opt_str(&mut self) -> Result<Option<Cow<'a, str>>> {
        match self.peek() {
            b'"' => {
                let at = self.i;
                let (raw, escaped) = self.raw_string()?;
                if !escaped {
                    return Ok(Some(Cow::Borrowed(raw)));
                }
                match serde_json::from_str::<String>(&self.text[at..self.i]) {
                    Ok(s) => Ok(Some(Cow::Owned(s))),
                    Err(_) => {
                        self.i = at;
                        self.fail("bad escape in string")
                    }
                }
            }
            b'n' => self.literal(b"null").map(|()| None),
            _ => self.fail("expected a string"),
        }
    }

    /// A non-negative integer no larger than `max`, or `null`.
    #[inline(always)]
    pub(crate) fn opt_uint(&mut self, max: u64) -> Result<Option<u64>> {
        if self.null()? {
            return Ok(None);
        }
        let b = self.text.as_bytes();
        let at = self.i;
        let mut n: u64 = 0;
        let mut j = at;
        // Digits are read and checked in one pass.
        while let Some(&c) = b.get(j) {
            let digit = c.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            n = match n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(digit)))
            {
                Some(n) => n,
                None => return self.fail("integer out of range"),
            };
            j += 1;
        }
        if let Some(b'-' | b'+' | b'.' | b'e' | b'E') = b.get(j) {
            return self.fail("expected an unsigned integer");
        }
        if j == at {
            return self.fail("expected a value");
        }
        if n > max {
            return self.fail("integer out of range");
        }
        self.i = j;
        Ok(Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key and its skipped value, or the error.
    fn keys(text: &str) -> std::result::Result<Vec<String>, &'static str> {
        let mut c = Cursor::new(text);
        let mut out = Vec::new();
        let mut walk = || -> Result<()> {
            c.object()?;
            while let Some(k) = c.key()? {
                out.push(String::from_utf8_lossy(k).into_owned());
                c.skip()?;
            }
            c.end()
        };
        match walk() {
            Ok(()) => Ok(out),
            Err(Stop) => Err(c.error().1),
        }
    }

    #[test]
    fn skips_every_kind_of_value() {
        let text = r#" {"a":"x\"}\\","b":{"c":[1,-2.5e3,true,false,null,{}],"d":[]},"e":"\u00e9", "f" : { } } "#;
        assert_eq!(keys(text).unwrap(), ["a", "b", "e", "f"]);
        assert_eq!(keys("{}").unwrap(), Vec::<String>::new());
        assert_eq!(keys(" { } ").unwrap(), Vec::<String>::new());
        // Strings longer than a step, escapes at every offset of one.
        for k in 0..20 {
            let key = format!("{}\\\"{}", "x".repeat(k), "y".repeat(19 - k));
            assert_eq!(keys(&format!("{{\"{key}\":1}}")).unwrap(), [key]);
        }
    }

    #[test]
    fn not_digits_marks_exactly_the_non_digits() {
        for v in 0..=255u8 {
            for pos in 0..8 {
                let mut bytes = [b'7'; 8];
                bytes[pos] = v;
                let m = not_digits(u64::from_le_bytes(bytes));
                let want = if v.is_ascii_digit() {
                    0
                } else {
                    0x80 << (8 * pos)
                };
                assert_eq!(m, want, "byte {v:#x} at {pos}");
            }
        }
    }

    #[test]
    fn numbers_of_every_length_end_where_they_end() {
        for len in 1..=20 {
            let digits = "9".repeat(len);
            for (tail, ok) in [
                ("}", true),
                (",\"b\":1}", true),
                (" }", true),
                ("x}", false),
            ] {
                let text = format!("{{\"a\":{digits}{tail}");
                assert_eq!(keys(&text).is_ok(), ok, "{text}");
            }
            let text = format!("{{\"a\":-{digits}.5e+3,\"b\":{digits}}}");
            assert_eq!(keys(&text).unwrap(), ["a", "b"]);
        }
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
            r#"{,"a":1}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":"x}"#,
            r#"{"a":"\q"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":tru}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":{"b":1,}}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}}"#,
            r#"{a:1}"#,
        ] {
            assert!(keys(bad).is_err(), "{bad:?} accepted");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(keys(&deep).unwrap_err(), "nested too deeply");
    }

    #[test]
    fn typed_values() {
        let text =
            r#"{"s":"a\nb","t":"plain","n":null,"p":65535,"q":65536,"r":-1,"f":1.0,"z":"x"}"#;
        let mut seen = Vec::new();
        for key in ["s", "t", "n", "p", "q", "r", "f", "z"] {
            let mut c = Cursor::new(text);
            c.object().unwrap();
            while let Some(k) = c.key().unwrap() {
                let k = std::str::from_utf8(k).unwrap();
                if k != key {
                    c.skip().unwrap();
                    continue;
                }
                let v = match k {
                    "s" | "t" | "n" => format!("{:?}", c.opt_str().unwrap()),
                    "z" => format!("{:?}", c.opt_uint(9).map_err(|_| c.error().1)),
                    _ => format!("{:?}", c.opt_uint(65535).map_err(|_| c.error().1)),
                };
                seen.push(format!("{k}={v}"));
                break;
            }
        }
        assert_eq!(
            seen,
            [
                "s=Some(\"a\\nb\")",
                "t=Some(\"plain\")",
                "n=None",
                "p=Ok(Some(65535))",
                "q=Err(\"integer out of range\")",
                "r=Err(\"expected an unsigned integer\")",
                "f=Err(\"expected an unsigned integer\")",
                "z=Err(\"expected a value\")",
            ]
        );
    }
}
