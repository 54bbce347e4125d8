//! The command's allocator: the system's, asking for transparent huge pages
//! for large blocks. The flow tracker's tables and the ordering window are
//! tens of megabytes read at random; on 4 KiB pages nearly every such read
//! also misses the TLB (two page-table walks in a virtual machine), and
//! every page is faulted in on its own. The detector's state is mapped this
//! way by the library itself.

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, with huge pages advised for blocks of at least
/// [`LARGE`] bytes.
pub struct HugePages;

/// Transparent huge page size on x86-64 and most arm64 kernels.
const HUGE: usize = 2 << 20;

/// Blocks from this size on are advised: small enough for the tracker's
/// tables at their smallest budgets, large enough that the pages rounded off
/// at both ends are a small share.
const LARGE: usize = 4 * HUGE;

/// Asks for huge pages on the whole huge pages inside `[p, p + size)`.
fn advise(p: *mut u8, size: usize) {
    if p.is_null() || size < LARGE {
        return;
    }
    let start = (p as usize).next_multiple_of(HUGE);
    let end = (p as usize).saturating_add(size) & !(HUGE - 1);
    if end > start {
        // SAFETY: [start, end) lies inside the block just allocated, which
        // this process owns; the advice changes only how it is backed, and
        // a refusal only leaves it on small pages.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

// SAFETY: every call is the system allocator's; the advice never moves,
// frees or changes the contents of memory.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        advise(p, layout.size());
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        advise(p, new_size);
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[cfg(test)]
mod tests {
    /// The `VmFlags` of the mapping that holds `addr`, from /proc/self/smaps.
    fn flags_at(addr: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((lo, hi)) = range.split_once('-') {
                    if let (Ok(lo), Ok(hi)) =
                        (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                    {
                        inside = (lo..hi).contains(&addr);
                        continue;
                    }
                }
            }
            if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    return flags.to_string();
                }
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    #[test]
    fn large_blocks_are_advised_huge_pages_grown_or_new() {
        // The advice shows as the mapping's `hg` flag, whatever the
        // system's huge page setting.
        let large = vec![1u8; 16 << 20];
        let middle = large.as_ptr() as usize + (8 << 20);
        assert!(flags_at(middle).split_whitespace().any(|f| f == "hg"));

        // (Whether a small block's memory shows the flag depends on what
        // was freed there before, so it is not asserted.)
        let mut grown = vec![1u8; 1 << 20];
        grown.resize(24 << 20, 2);
        let middle = grown.as_ptr() as usize + (12 << 20);
        assert!(flags_at(middle).split_whitespace().any(|f| f == "hg"));
        assert_eq!(grown[5], 1);
        assert_eq!(grown[(24 << 20) - 1], 2);
    }
}
