//! FRM-2 / FRM-12 measured: decoding an oversize header allocates nothing
//! for the body, and a peer that declares 16 MiB but sends a few bytes makes
//! the decoder allocate only its first chunk (a stream reader, at most its
//! eager bound). A counting global allocator
//! records the largest single allocation (this file is its own test binary).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use broker_conformance::wire::framing::encode_header;
use broker_conformance::wire::{FrameDecoder, MAX_FRAME_BYTES};

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);
/// Tests in this binary share LARGEST; run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn oversize_header_allocates_no_body() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let header = encode_header(MAX_FRAME_BYTES + 1);
    let mut decoder = FrameDecoder::new();
    LARGEST.store(0, Ordering::SeqCst);
    let result = decoder.push(&header);
    let largest = LARGEST.load(Ordering::SeqCst);
    assert!(result.is_err());
    assert!(
        largest < 4096,
        "largest allocation while refusing was {largest} bytes"
    );
}

#[test]
fn declared_16_mib_with_few_bytes_allocates_only_what_arrived() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut decoder = FrameDecoder::new();
    LARGEST.store(0, Ordering::SeqCst);
    decoder
        .push(&encode_header(MAX_FRAME_BYTES))
        .expect("legal header");
    decoder.push(&[0u8; 100]).expect("some body");
    let window = decoder.read_window().len();
    let largest = LARGEST.load(Ordering::SeqCst);
    assert!(
        largest <= 128 * 1024,
        "largest allocation was {largest} bytes for 100 bytes received"
    );
    assert!(window <= 128 * 1024, "read window {window}");
}

#[test]
fn stream_readers_allocate_at_most_the_eager_bound_for_a_body_that_does_not_come() {
    use broker_conformance::wire::FramingError;
    use broker_conformance::wire::framing::{async_io, blocking};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut wire = encode_header(MAX_FRAME_BYTES).to_vec();
    wire.extend_from_slice(&[0u8; 100]);
    LARGEST.store(0, Ordering::SeqCst);
    let blocking_result =
        blocking::read_frame_body(&mut std::io::Cursor::new(&wire), MAX_FRAME_BYTES);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let async_result = runtime.block_on(async_io::read_frame_body(
        &mut wire.as_slice(),
        MAX_FRAME_BYTES,
    ));
    let largest = LARGEST.load(Ordering::SeqCst);
    for result in [blocking_result, async_result] {
        assert!(
            matches!(
                result,
                Err(FramingError::Truncated {
                    received: 100,
                    expected,
                    ..
                }) if expected == MAX_FRAME_BYTES as usize
            ),
            "{result:?}"
        );
    }
    assert!(
        largest <= broker_conformance::wire::framing::EAGER_BODY_BYTES + 4096,
        "largest allocation was {largest} bytes for 100 bytes received of 16 MiB declared"
    );
}
