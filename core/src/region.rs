//! Memory that borrowed views point into, kept alive by reference counting so
//! that a binding can hold a view past the end's close (the view stays valid,
//! it just no longer means anything).

use crate::mapping::Mapping;
use std::sync::Arc;

/// A heap buffer addressed only through raw pointers, so that a `&[u8]`
/// handed out earlier and the next fill never alias a `&mut`.
pub(crate) struct HeapBuf {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: HeapBuf is a plain allocation; the owning end serialises access.
unsafe impl Send for HeapBuf {}
// SAFETY: as above; shared references only read `ptr`/`len`.
unsafe impl Sync for HeapBuf {}

impl HeapBuf {
    pub(crate) fn new(len: usize) -> Arc<HeapBuf> {
        let b: Box<[u8]> = vec![0u8; len].into_boxed_slice();
        let ptr = Box::into_raw(b).cast::<u8>();
        Arc::new(HeapBuf { ptr, len })
    }
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for HeapBuf {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from Box::into_raw of a boxed slice of len bytes.
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.ptr, self.len,
            )))
        };
    }
}

/// Keeps the memory behind an end's borrowed views alive. Bindings for
/// languages without lifetimes (Java, Node) store one in every view they
/// export, so the memory is unmapped only after the last view is collected.
#[derive(Clone)]
pub struct Keepalive(#[expect(dead_code, reason = "held only for its Drop")] Region);

#[derive(Clone)]
#[expect(dead_code, reason = "the Arcs are held only for their Drop")]
pub(crate) enum Region {
    Ring(Arc<Mapping>),
    Heap(Arc<HeapBuf>),
}

impl Keepalive {
    pub(crate) fn new(r: Region) -> Keepalive {
        Keepalive(r)
    }
}

impl std::fmt::Debug for Keepalive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keepalive")
    }
}
