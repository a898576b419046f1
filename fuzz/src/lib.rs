//! What every fuzz target shares: an allocator that refuses any single allocation above [`MAX_ALLOCATION`].
//!
//! libFuzzer's own `-malloc_limit_mb` needs a sanitizer's allocator hooks, and these targets are built
//! without a sanitizer (stable Rust); `-rss_limit_mb` only sees memory once it is touched. Refusing the
//! allocation makes Rust abort with "memory allocation of N bytes failed", which libFuzzer reports as a crash
//! with the input that caused it: a parser that sizes a buffer from a length field it has not checked is a
//! finding even when it would never write to that buffer.

use std::alloc::{GlobalAlloc, Layout, System};

/// The largest single allocation a target may make. The inputs are at most tens of kilobytes; no parser has a
/// reason to ask for a thousand times that.
pub const MAX_ALLOCATION: usize = 64 << 20;

struct Capped;

// SAFETY: every call is forwarded to the system allocator unchanged, except that requests above the cap
// return null, which `GlobalAlloc` allows (the caller then reports an allocation failure).
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;
