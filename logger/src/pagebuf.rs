//! A zeroed buffer mapped straight from the kernel. No page of it costs memory until it is
//! written, not even the first: a malloc'ed buffer of the same size is a mapping too, but
//! malloc writes its header into the first page. An idle logger's two buffers cost nothing.
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use rustix::mm::{madvise, mmap_anonymous, munmap, Advice, MapFlags, ProtFlags};
use tend_core::{Ctx, Error};

/// `len` bytes of private anonymous memory, zeroed, unmapped on drop.
#[derive(Debug)]
pub struct PageBuf {
    ptr: NonNull<u8>,
    len: usize,
}

impl PageBuf {
    /// Maps `len` (> 0) zeroed bytes.
    pub fn new(len: usize) -> Result<PageBuf, Error> {
        // SAFETY: a fresh private anonymous mapping aliases nothing.
        let p = unsafe {
            mmap_anonymous(
                std::ptr::null_mut(),
                len.max(1),
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }
        .ctx(|| format!("map a {len}-byte buffer"))?;
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| Error::Sys {
            op: format!("map a {len}-byte buffer"),
            errno: rustix::io::Errno::NOMEM,
        })?;
        Ok(PageBuf { ptr, len })
    }

    /// Gives the pages back to the kernel: the buffer reads as zeroes again and costs
    /// nothing until written. For when nothing in it is needed any more.
    pub fn release(&mut self) {
        // SAFETY: the range is this mapping; nothing borrows it (we hold &mut self).
        let _ = unsafe { madvise(self.ptr.as_ptr().cast(), self.len, Advice::LinuxDontNeed) };
    }
}

impl Deref for PageBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: ptr is a live mapping of len readable bytes, owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for PageBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref, and &mut self makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and no borrow outlives self.
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.len.max(1)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_writable_and_zero_again_after_release() {
        let mut b = PageBuf::new(3 * 4096 + 5).unwrap();
        assert_eq!(b.len(), 3 * 4096 + 5);
        assert!(b.iter().all(|&x| x == 0));
        b[0] = 7;
        b[3 * 4096 + 4] = 9;
        assert_eq!((b[0], b[3 * 4096 + 4]), (7, 9));
        b.release();
        assert!(b.iter().all(|&x| x == 0));
    }
}
