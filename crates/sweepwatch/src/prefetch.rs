//! A cache prefetch hint; a no-op where the target has none.

/// A prefetch hint for the memory at `addr`, which may be any value: a
/// prefetch never faults and reads nothing the program can see.
#[inline(always)]
pub(crate) fn prefetch_addr(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, has no effect on memory and
    // never dereferences the address; SSE is part of every x86_64 target.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}
