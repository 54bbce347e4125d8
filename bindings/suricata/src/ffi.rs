//! The parts of Suricata's plugin ABI this plugin uses, for 7.0 and 8.0,
//! declared by hand because Suricata does not install its headers.
//!
//! Layouts follow `src/suricata-plugin.h` and `src/output-eve.h` of each
//! release. The two differ in three ways: 8.0's [`SCPlugin8`] starts with an
//! API version Suricata checks, its [`SCEveFileType8`] orders the callbacks
//! differently, and its configuration functions carry an `SC` prefix. One
//! build serves both: Suricata's functions are looked up by name when the
//! plugin is loaded ([`Api::resolve`]), and the names found tell the version.

use std::ffi::{c_char, c_int, c_void, CStr};

/// Suricata's configuration node. Opaque here: its values are read through
/// Suricata's exported lookup functions only.
#[repr(C)]
pub struct ConfNode {
    _private: [u8; 0],
}

/// The fields of Suricata's configuration node, as `src/conf.h` declares
/// them in 7.0 (`ConfNode`) and 8.0 (`SCConfNode`) alike. Suricata exports
/// no function that lists a node's children, so they are walked here, only
/// to name keys the plugin does not know; [`Api::children`] checks every
/// child it finds against Suricata's own lookup before trusting the walk.
#[repr(C)]
#[allow(dead_code)] // declared for the layout; only some fields are read
struct NodeFields {
    name: *const c_char,
    val: *const c_char,
    is_seq: c_int,
    final_: c_int,
    parent: *const ConfNode,
    /// `TAILQ_HEAD`: the first child, and the address of the last one's link.
    first_child: *const ConfNode,
    last_link: *const *const ConfNode,
    /// `TAILQ_ENTRY`: the next sibling, and the address of the previous link.
    next: *const ConfNode,
    prev_link: *const *const ConfNode,
}

/// Children a node may have before the walk gives up (a YAML file with
/// more keys under the plugin's section is not one this plugin reads).
const MAX_CHILDREN: usize = 4096;

/// What `SCPluginRegister` returns to Suricata 7.0.
#[repr(C)]
pub struct SCPlugin7 {
    /// NUL-terminated plugin name.
    pub name: *const c_char,
    /// NUL-terminated licence name.
    pub license: *const c_char,
    /// NUL-terminated author.
    pub author: *const c_char,
    /// Called once after loading.
    pub init: Option<unsafe extern "C" fn()>,
}

/// What `SCPluginRegister` returns to Suricata 8.0, which refuses a plugin
/// whose `version` is not its own API version.
#[repr(C)]
pub struct SCPlugin8 {
    /// The plugin API version, [`API_VERSION_8_0`].
    pub version: u64,
    /// NUL-terminated Suricata version the plugin was built for.
    pub suricata_version: *const c_char,
    /// NUL-terminated plugin name.
    pub name: *const c_char,
    /// NUL-terminated plugin version.
    pub plugin_version: *const c_char,
    /// NUL-terminated licence name.
    pub license: *const c_char,
    /// NUL-terminated author.
    pub author: *const c_char,
    /// Called once after loading.
    pub init: Option<unsafe extern "C" fn()>,
}

/// Suricata 8.0's plugin API version (`SC_API_VERSION`: major and minor).
pub const API_VERSION_8_0: u64 = 0x0800;

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
/// `ThreadInit`: called for each thread that logs through the output (the
/// thread id is an `int` in 7.0, a `uint32_t` in 8.0: the same register).
pub type ThreadInitFn = unsafe extern "C" fn(
    init_data: *mut c_void,
    thread_id: c_int,
    thread_data: *mut *mut c_void,
) -> c_int;
/// `ThreadDeinit`: called for each thread at shutdown (8.0 ignores the
/// result, which 7.0 declares).
pub type ThreadDeinitFn =
    unsafe extern "C" fn(init_data: *mut c_void, thread_data: *mut c_void) -> c_int;

/// The callbacks of the EVE file type, whatever the layout.
#[derive(Clone, Copy)]
pub struct Callbacks {
    /// See [`InitFn`].
    pub init: InitFn,
    /// See [`WriteFn`].
    pub write: WriteFn,
    /// See [`DeinitFn`].
    pub deinit: DeinitFn,
    /// See [`ThreadInitFn`].
    pub thread_init: ThreadInitFn,
    /// See [`ThreadDeinitFn`].
    pub thread_deinit: ThreadDeinitFn,
}

/// An EVE output file type, in Suricata 7.0's field order.
#[repr(C)]
pub struct SCEveFileType7 {
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

/// An EVE output file type, in Suricata 8.0's field order.
#[repr(C)]
pub struct SCEveFileType8 {
    /// The name `filetype:` selects in `eve-log`.
    pub name: *const c_char,
    /// See [`InitFn`].
    pub init: Option<InitFn>,
    /// See [`ThreadInitFn`].
    pub thread_init: Option<ThreadInitFn>,
    /// See [`WriteFn`].
    pub write: Option<WriteFn>,
    /// See [`ThreadDeinitFn`].
    pub thread_deinit: Option<ThreadDeinitFn>,
    /// See [`DeinitFn`].
    pub deinit: Option<DeinitFn>,
    /// `TAILQ_ENTRY(SCEveFileType_)`.
    pub entries: [*mut c_void; 2],
}

/// The Suricata release the plugin runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Major {
    /// 7.0.x.
    V7,
    /// 8.0.x.
    V8,
}

type RegisterFn = unsafe extern "C" fn(file_type: *mut c_void) -> bool;
type LookupFn = unsafe extern "C" fn(node: *const ConfNode, name: *const c_char) -> *mut c_void;
type GetFn = unsafe extern "C" fn(name: *const c_char, vptr: *mut *const c_char) -> c_int;
type LogDirFn = unsafe extern "C" fn() -> *const c_char;
type FlagFn = unsafe extern "C" fn(flag: *mut c_int);

/// Suricata's functions this plugin calls, found in the running executable
/// (which exports them: it is linked with `-rdynamic`).
#[derive(Clone, Copy)]
pub struct Api {
    /// Which release's names were found.
    pub major: Major,
    /// `SCRegisterEveFileType`: adds a file type to the list `filetype:` is
    /// looked up in.
    register: RegisterFn,
    /// `(SC)ConfNodeLookupChild`: the child of a node by name, or NULL.
    lookup_child: LookupFn,
    /// `(SC)ConfNodeLookupChildValue`: the value of a child, or NULL.
    lookup_child_value: LookupFn,
    /// `(SC)ConfGet`: a value by its dotted name; 1 if found.
    get: GetFn,
    /// `(SC)ConfigGetLogDirectory`: the log directory.
    log_dir: LogDirFn,
    /// `OutputRegisterFileRotationFlag` and `OutputUnregisterFileRotationFlag`
    /// (both releases): an `int` Suricata sets to 1 on SIGHUP.
    rotation: Option<(FlagFn, FlagFn)>,
}

/// The address of `name` in the running process, if it exports one.
pub fn symbol(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: `name` is NUL-terminated; RTLD_DEFAULT searches the executable
    // and the libraries loaded with it.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

impl Api {
    /// Looks Suricata's functions up by their 8.0 names, then their 7.0
    /// ones; `None` if neither set is all there (not Suricata 7.0 or 8.0).
    pub fn resolve() -> Option<Api> {
        let names: [(Major, [&CStr; 4]); 2] = [
            (
                Major::V8,
                [
                    c"SCConfNodeLookupChild",
                    c"SCConfNodeLookupChildValue",
                    c"SCConfGet",
                    c"SCConfigGetLogDirectory",
                ],
            ),
            (
                Major::V7,
                [
                    c"ConfNodeLookupChild",
                    c"ConfNodeLookupChildValue",
                    c"ConfGet",
                    c"ConfigGetLogDirectory",
                ],
            ),
        ];
        let register = symbol(c"SCRegisterEveFileType")?;
        let rotation = symbol(c"OutputRegisterFileRotationFlag")
            .zip(symbol(c"OutputUnregisterFileRotationFlag"))
            // SAFETY: both take an `int *` and return nothing.
            .map(|(r, u)| unsafe {
                (
                    std::mem::transmute::<*mut c_void, FlagFn>(r),
                    std::mem::transmute::<*mut c_void, FlagFn>(u),
                )
            });
        names
            .into_iter()
            .find_map(|(major, [child, value, get, dir])| {
                let (child, value, get, dir) =
                    (symbol(child)?, symbol(value)?, symbol(get)?, symbol(dir)?);
                // SAFETY: each symbol is the function of that name, whose C
                // prototype the type states (`SCConfNode` and `ConfNode` alike
                // are passed by pointer).
                unsafe {
                    Some(Api {
                        major,
                        register: std::mem::transmute::<*mut c_void, RegisterFn>(register),
                        lookup_child: std::mem::transmute::<*mut c_void, LookupFn>(child),
                        lookup_child_value: std::mem::transmute::<*mut c_void, LookupFn>(value),
                        get: std::mem::transmute::<*mut c_void, GetFn>(get),
                        log_dir: std::mem::transmute::<*mut c_void, LogDirFn>(dir),
                        rotation,
                    })
                }
            })
    }

    /// Registers the EVE file type `name` with `callbacks`, in the layout of
    /// the running release. The table is leaked: Suricata links it into its
    /// list and keeps it for the life of the process.
    pub fn register(&self, name: &'static CStr, cb: Callbacks) -> bool {
        let table: *mut c_void = match self.major {
            Major::V7 => Box::into_raw(Box::new(SCEveFileType7 {
                name: name.as_ptr(),
                init: Some(cb.init),
                write: Some(cb.write),
                deinit: Some(cb.deinit),
                thread_init: Some(cb.thread_init),
                thread_deinit: Some(cb.thread_deinit),
                entries: [std::ptr::null_mut(); 2],
            }))
            .cast(),
            Major::V8 => Box::into_raw(Box::new(SCEveFileType8 {
                name: name.as_ptr(),
                init: Some(cb.init),
                thread_init: Some(cb.thread_init),
                write: Some(cb.write),
                thread_deinit: Some(cb.thread_deinit),
                deinit: Some(cb.deinit),
                entries: [std::ptr::null_mut(); 2],
            }))
            .cast(),
        };
        // SAFETY: `table` is a valid, never-freed file type in the layout of
        // the release whose function this is.
        unsafe { (self.register)(table) }
    }

    /// The child of `node` named `key`, or NULL.
    ///
    /// # Safety
    /// `node` must be a node Suricata passed to Init or one found from it.
    pub unsafe fn child(&self, node: *const ConfNode, key: &CStr) -> *const ConfNode {
        // SAFETY: forwarded from the caller; `key` is NUL-terminated.
        unsafe { (self.lookup_child)(node, key.as_ptr()) }
            .cast_const()
            .cast()
    }

    /// The value of the child of `node` named `key`, or NULL.
    ///
    /// # Safety
    /// As [`child`](Self::child).
    pub unsafe fn child_value(&self, node: *const ConfNode, key: &CStr) -> *const c_char {
        // SAFETY: as in `child`.
        unsafe { (self.lookup_child_value)(node, key.as_ptr()) }
            .cast_const()
            .cast()
    }

    /// The names of `node`'s children in the order Suricata keeps them
    /// (a list's are `0`, `1`, ...), or `None` if the walk does not agree
    /// with Suricata's lookup for any of them (a layout other than the one
    /// [`NodeFields`] describes) or finds more than [`MAX_CHILDREN`].
    ///
    /// # Safety
    /// As [`child`](Self::child).
    pub unsafe fn children(&self, node: *const ConfNode) -> Option<Vec<String>> {
        let mut names = Vec::new();
        // SAFETY: `node` is a live node (caller); its first fields are those
        // of `NodeFields` in both releases.
        let mut at = unsafe { (*node.cast::<NodeFields>()).first_child };
        while !at.is_null() {
            if names.len() == MAX_CHILDREN {
                return None;
            }
            // SAFETY: `at` is a child linked from `node`, checked below
            // against Suricata's lookup before its sibling is followed.
            let fields = unsafe { &*at.cast::<NodeFields>() };
            if fields.parent != node || fields.name.is_null() {
                return None;
            }
            // SAFETY: a live node's name is a NUL-terminated string.
            let name = unsafe { CStr::from_ptr(fields.name) };
            // SAFETY: as in `child`.
            if unsafe { self.child(node, name) } != at {
                return None;
            }
            names.push(name.to_string_lossy().into_owned());
            at = fields.next;
        }
        Some(names)
    }

    /// The value at a dotted name, or NULL.
    pub fn global(&self, name: &CStr) -> *const c_char {
        let mut v: *const c_char = std::ptr::null();
        // SAFETY: `name` is NUL-terminated; `v` is a valid out-pointer.
        if unsafe { (self.get)(name.as_ptr(), &mut v) } == 1 {
            v
        } else {
            std::ptr::null()
        }
    }

    /// Asks Suricata to set `*flag` to 1 on SIGHUP; false if it cannot.
    ///
    /// # Safety
    /// `flag` must stay valid until [`unwatch_rotation`](Self::unwatch_rotation).
    pub unsafe fn watch_rotation(&self, flag: *mut c_int) -> bool {
        match self.rotation {
            // SAFETY: forwarded from the caller.
            Some((register, _)) => unsafe {
                register(flag);
                true
            },
            None => false,
        }
    }

    /// Undoes [`watch_rotation`](Self::watch_rotation).
    ///
    /// # Safety
    /// `flag` must be a flag passed to `watch_rotation`.
    pub unsafe fn unwatch_rotation(&self, flag: *mut c_int) {
        if let Some((_, unregister)) = self.rotation {
            // SAFETY: forwarded from the caller.
            unsafe { unregister(flag) }
        }
    }

    /// The log directory (`default-log-dir`, or `-l`), or NULL.
    pub fn log_directory(&self) -> *const c_char {
        // SAFETY: no arguments; returns NULL or Suricata's static string.
        unsafe { (self.log_dir)() }
    }
}
