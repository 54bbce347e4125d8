//! The parts of Suricata 7.0's plugin ABI this plugin uses, declared by hand
//! because Suricata does not install its headers.
//!
//! Layouts follow `src/suricata-plugin.h` and `src/output-eve.h` of Suricata
//! 7.0.x. Suricata 8 reorders [`SCEveFileType`] and adds a version field, so
//! this plugin loads only in 7.0.

use std::ffi::{c_char, c_int, c_void};

/// Suricata's configuration node. Opaque here: its values are read through
/// Suricata's exported lookup functions only.
#[repr(C)]
pub struct ConfNode {
    _private: [u8; 0],
}

/// What `SCPluginRegister` returns: the plugin's name, licence, author and the
/// function Suricata calls once after loading it.
#[repr(C)]
pub struct SCPlugin {
    /// NUL-terminated plugin name.
    pub name: *const c_char,
    /// NUL-terminated licence name.
    pub license: *const c_char,
    /// NUL-terminated author.
    pub author: *const c_char,
    /// Called once after loading.
    pub init: Option<unsafe extern "C" fn()>,
}

/// `Init`: called once for each `eve-log` output that selects this file type.
pub type InitFn = unsafe extern "C" fn(
    conf: *const ConfNode,
    threaded: bool,
    init_data: *mut *mut c_void,
) -> c_int;
/// `Write`: called for each EVE record (without a trailing newline).
pub type WriteFn = unsafe extern "C" fn(
    buffer: *const c_char,
    buffer_len: c_int,
    init_data: *mut c_void,
    thread_data: *mut c_void,
) -> c_int;
/// `Deinit`: called once at shutdown.
pub type DeinitFn = unsafe extern "C" fn(init_data: *mut c_void);
/// `ThreadInit`: called for each thread that logs through the output.
pub type ThreadInitFn = unsafe extern "C" fn(
    init_data: *mut c_void,
    thread_id: c_int,
    thread_data: *mut *mut c_void,
) -> c_int;
/// `ThreadDeinit`: called for each thread at shutdown.
pub type ThreadDeinitFn =
    unsafe extern "C" fn(init_data: *mut c_void, thread_data: *mut c_void) -> c_int;

/// An EVE output file type, in Suricata 7.0's field order.
#[repr(C)]
pub struct SCEveFileType {
    /// The name `filetype:` selects in `eve-log`.
    pub name: *const c_char,
    /// See [`InitFn`].
    pub init: Option<InitFn>,
    /// See [`WriteFn`].
    pub write: Option<WriteFn>,
    /// See [`DeinitFn`].
    pub deinit: Option<DeinitFn>,
    /// See [`ThreadInitFn`].
    pub thread_init: Option<ThreadInitFn>,
    /// See [`ThreadDeinitFn`].
    pub thread_deinit: Option<ThreadDeinitFn>,
    /// `TAILQ_ENTRY(SCEveFileType_)`: two pointers Suricata writes when it links
    /// the file type into its list.
    pub entries: [*mut c_void; 2],
}

// Suricata's executable exports these (it is linked with -rdynamic); the
// dynamic loader resolves them when the plugin is loaded. Unit tests never
// call into Suricata, so their binaries do not reference these symbols.
#[cfg(not(test))]
extern "C" {
    /// Adds a file type to the list `filetype:` is looked up in.
    pub fn SCRegisterEveFileType(file_type: *mut SCEveFileType) -> bool;
    /// The child of `node` named `name`, or NULL.
    pub fn ConfNodeLookupChild(node: *const ConfNode, name: *const c_char) -> *mut ConfNode;
    /// The value of the child of `node` named `name`, or NULL.
    pub fn ConfNodeLookupChildValue(node: *const ConfNode, name: *const c_char) -> *const c_char;
    /// Looks up a value by its dotted name; returns 1 and sets `*vptr` if found.
    pub fn ConfGet(name: *const c_char, vptr: *mut *const c_char) -> c_int;
    /// The log directory (`default-log-dir`, or `-l` on the command line).
    pub fn ConfigGetLogDirectory() -> *const c_char;
}
