//! Large zero-initialised arrays for the detector's state.
//!
//! The table, filter and pool are read at random, so on Linux they are mapped on
//! 2 MiB-aligned memory with transparent huge pages requested: one TLB entry then
//! covers 32,768 records instead of 64, which matters most in virtual machines,
//! where every TLB miss walks two page tables. Pages are touched at
//! construction, so observing never faults memory in.

use crate::error::Error;
use std::ops::{Deref, DerefMut};

/// Plain values whose all-zero bit pattern is a valid value: what a fresh
/// mapping holds. `bytemuck`'s derive checks that every field is so.
pub(crate) trait Zeroable: bytemuck::Zeroable + Copy {}

impl<T: bytemuck::Zeroable + Copy> Zeroable for T {}

/// A fixed-length array of zeroed `T`.
pub(crate) struct Zeroed<T: Zeroable> {
    inner: Inner<T>,
}

#[cfg(all(target_os = "linux", not(miri)))]
struct Inner<T> {
    ptr: *mut T,
    len: usize,
    base: *mut libc::c_void,
    mapped: usize,
}

#[cfg(not(all(target_os = "linux", not(miri))))]
struct Inner<T> {
    data: Box<[T]>,
}

// SAFETY: the mapping is owned exclusively, like a Box<[T]>.
unsafe impl<T: Zeroable + Send> Send for Zeroed<T> {}
// SAFETY: shared access only reads, like &[T].
unsafe impl<T: Zeroable + Sync> Sync for Zeroed<T> {}

/// Huge page size the mapping is aligned to.
#[cfg(all(target_os = "linux", not(miri)))]
const HUGE: usize = 2 << 20;

impl<T: Zeroable> Zeroed<T> {
    /// `len` zeroed values.
    ///
    /// # Errors
    /// [`Error::NoMemory`] if the memory cannot be had (the size overflows, or
    /// the kernel refuses the mapping): never an abort.
    #[cfg(all(target_os = "linux", not(miri)))]
    pub(crate) fn new(len: usize) -> Result<Self, Error> {
        let no_memory = || Error::NoMemory {
            bytes: (len as u64).saturating_mul(std::mem::size_of::<T>() as u64),
        };
        let bytes = len
            .max(1)
            .checked_mul(std::mem::size_of::<T>().max(1))
            .ok_or_else(no_memory)?;
        let mapped = bytes.checked_add(HUGE).ok_or_else(no_memory)?;
        // SAFETY: an anonymous private mapping has no preconditions; the result is
        // checked before use.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(no_memory());
        }
        let start = (base as usize).next_multiple_of(HUGE);
        let ptr = start as *mut T;
        // SAFETY: [start, start + bytes) lies inside the mapping (it has HUGE bytes
        // of slack). A failed madvise only means small pages.
        unsafe {
            libc::madvise(start as *mut libc::c_void, bytes, libc::MADV_HUGEPAGE);
            // Fault every page in now, not during observation. Anonymous memory
            // reads as zero, which is a valid T.
            let p = start as *mut u8;
            let mut off = 0;
            while off < bytes {
                std::ptr::write_volatile(p.add(off), 0);
                off += 4096;
            }
        }
        Ok(Zeroed {
            inner: Inner {
                ptr,
                len,
                base,
                mapped,
            },
        })
    }

    /// `len` zeroed values.
    ///
    /// # Errors
    /// [`Error::NoMemory`] if the memory cannot be had: never an abort.
    #[cfg(not(all(target_os = "linux", not(miri))))]
    pub(crate) fn new(len: usize) -> Result<Self, Error> {
        // SAFETY: T is Zeroable, so zeroed memory is a valid T.
        let zero: T = unsafe { std::mem::zeroed() };
        let mut data = Vec::new();
        data.try_reserve_exact(len).map_err(|_| Error::NoMemory {
            bytes: (len as u64).saturating_mul(std::mem::size_of::<T>() as u64),
        })?;
        data.resize(len, zero);
        Ok(Zeroed {
            inner: Inner {
                data: data.into_boxed_slice(),
            },
        })
    }
}

impl<T: Zeroable> Deref for Zeroed<T> {
    type Target = [T];

    #[cfg(all(target_os = "linux", not(miri)))]
    fn deref(&self) -> &[T] {
        // SAFETY: ptr points to len initialised (zeroed or since written) values
        // owned by self.
        unsafe { std::slice::from_raw_parts(self.inner.ptr, self.inner.len) }
    }

    #[cfg(not(all(target_os = "linux", not(miri))))]
    fn deref(&self) -> &[T] {
        &self.inner.data
    }
}

impl<T: Zeroable> DerefMut for Zeroed<T> {
    #[cfg(all(target_os = "linux", not(miri)))]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in deref, and &mut self makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.inner.ptr, self.inner.len) }
    }

    #[cfg(not(all(target_os = "linux", not(miri))))]
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.inner.data
    }
}

#[cfg(all(target_os = "linux", not(miri)))]
impl<T: Zeroable> Drop for Zeroed<T> {
    fn drop(&mut self) {
        // SAFETY: base and mapped are exactly what mmap returned and was asked for.
        unsafe {
            libc::munmap(self.inner.base, self.inner.mapped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_start_zeroed_and_keep_writes() {
        for len in [0usize, 1, 1000, 3 << 20] {
            let mut a: Zeroed<u32> = Zeroed::new(len).unwrap();
            assert_eq!(a.len(), len);
            assert!(a.iter().all(|x| *x == 0));
            if len > 0 {
                a[len - 1] = 7;
                assert_eq!(a[len - 1], 7);
            }
        }
    }

    #[test]
    fn memory_that_cannot_be_had_is_an_error_not_an_abort() {
        // 1 TiB: more than this machine's memory and swap, so the kernel
        // refuses the mapping at once without touching a page.
        let len = (1usize << 40) / std::mem::size_of::<u32>();
        match Zeroed::<u32>::new(len) {
            Err(Error::NoMemory { bytes }) => assert_eq!(bytes, 1 << 40),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a 1 TiB array was allocated"),
        }
        // A size that overflows the address space.
        assert!(matches!(
            Zeroed::<u32>::new(usize::MAX / 2),
            Err(Error::NoMemory { .. })
        ));
    }
}
