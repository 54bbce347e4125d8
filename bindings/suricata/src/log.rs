//! Messages through Suricata's own log (`SCLogMessage`), so that they land in
//! `suricata.log`, on the console and in syslog with Suricata's own, at
//! Suricata's levels and filtered by its `default-log-level`; on stderr with a
//! `sweepwatch:` prefix outside Suricata (the tests, the benches).

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::io::Write as _;
use std::sync::OnceLock;

/// A message's level. Its number in Suricata's `SCLogLevel` differs between
/// releases, so it is looked up by name in the running Suricata's own table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something failed: records or verdicts lost, start-up refused.
    Error,
    /// The configuration or the system keeps the output from doing all it should.
    Warning,
    /// The start-up line and the final summary.
    Notice,
    /// Normal events worth a line in `suricata.log` but not on the console
    /// (Suricata's `info`), such as a state file not there yet on first start.
    Info,
}

/// `SCError SCLogMessage(SCLogLevel, const char *file, unsigned line,
/// const char *function, const char *module, const char *message)`: the
/// non-variadic end of Suricata's logging macros, the same in 7.0 and 8.0.
type MessageFn = unsafe extern "C" fn(
    level: c_int,
    file: *const c_char,
    line: c_uint,
    function: *const c_char,
    module: *const c_char,
    message: *const c_char,
) -> c_int;

/// `SCLogLevel SCLogGetLogLevel(void)`: the level messages are written up to.
type LevelFn = unsafe extern "C" fn() -> c_int;

/// `int SCMapEnumNameToValue(const char *name, SCEnumCharMap *table)`: a
/// value by its name (any case) in a table such as `sc_log_level_map`, or -1.
type MapFn = unsafe extern "C" fn(name: *const c_char, table: *mut c_void) -> c_int;

/// Suricata's logging functions and the numbers of [`Level`]s, in order.
#[derive(Clone, Copy)]
struct Suricata {
    message: MessageFn,
    current: LevelFn,
    levels: [c_int; 4],
}

fn suricata_log() -> Option<Suricata> {
    static FNS: OnceLock<Option<Suricata>> = OnceLock::new();
    *FNS.get_or_init(|| {
        let message = crate::ffi::symbol(c"SCLogMessage")?;
        let current = crate::ffi::symbol(c"SCLogGetLogLevel")?;
        let map = crate::ffi::symbol(c"SCMapEnumNameToValue")?;
        let table = crate::ffi::symbol(c"sc_log_level_map")?;
        // SAFETY: the symbols are Suricata's functions of these prototypes
        // (util-debug.h and util-enum.h, both releases) and its level table,
        // which the lookup only reads.
        unsafe {
            let map = std::mem::transmute::<*mut c_void, MapFn>(map);
            let mut levels = [0; 4];
            for (n, name) in levels
                .iter_mut()
                .zip([c"error", c"warning", c"notice", c"info"])
            {
                *n = map(name.as_ptr(), table);
                if *n < 0 {
                    return None;
                }
            }
            Some(Suricata {
                message: std::mem::transmute::<*mut c_void, MessageFn>(message),
                current: std::mem::transmute::<*mut c_void, LevelFn>(current),
                levels,
            })
        }
    })
}

/// Logs `msg` at `level`. Never panics: it runs inside the panic boundary's
/// own error path.
pub fn log(level: Level, msg: std::fmt::Arguments<'_>) {
    if let Some(sc) = suricata_log() {
        let n = sc.levels[level as usize];
        // SAFETY: takes no arguments and only reads Suricata's setting.
        if unsafe { (sc.current)() } < n {
            return;
        }
        // Interior NULs (from a path, say) cannot reach C: they become spaces.
        let text = std::fmt::format(msg).replace('\0', " ");
        if let Ok(text) = CString::new(text) {
            // SAFETY: every pointer is to a NUL-terminated string that
            // outlives the call; Suricata copies what it keeps.
            unsafe {
                (sc.message)(
                    n,
                    c"sweepwatch".as_ptr(),
                    0,
                    c"sweepwatch".as_ptr(),
                    c"sweepwatch".as_ptr(),
                    text.as_ptr(),
                )
            };
            return;
        }
    }
    let _ = writeln!(std::io::stderr().lock(), "sweepwatch: {msg}");
}
