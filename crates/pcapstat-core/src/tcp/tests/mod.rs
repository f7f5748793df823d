//! Scripted segment sequences and lab-capture validation.
#![allow(clippy::unwrap_used)]

mod lab;
mod scripted;

/// A SYN-only connection costs at most 200 bytes of state: its flow-table entry (slot, index)
/// with the inline [`super::SynOnly`], which holds no heap (it is `Copy`) and opens no sink. The
/// full state (boxed, built on the second segment) is what a SYN-only connection does not pay.
#[test]
fn syn_only_connection_state_is_at_most_200_bytes() {
    use super::{Conn, Connection, SynOnly};
    use crate::app::AppSink;
    use crate::flow::{FlowEntry, FlowTable};
    use std::mem::size_of;
    fn no_heap<T: Copy>() {}
    no_heap::<SynOnly>();
    let entry = FlowTable::<Conn<AppSink>>::BYTES_PER_ENTRY;
    eprintln!(
        "SYN-only table entry {entry} B, Conn {} B, full Connection {} B, record {} B",
        size_of::<Conn<AppSink>>(),
        size_of::<Connection<AppSink>>(),
        size_of::<crate::record::ConnectionRecord>()
    );
    assert!(entry <= 200, "SYN-only table entry: {entry} bytes");
    // The inline part stays small whatever the sink (the full connection is boxed).
    assert!(
        size_of::<Conn<AppSink>>() <= 48,
        "{}",
        size_of::<Conn<AppSink>>()
    );
    assert_eq!(size_of::<Conn<AppSink>>(), size_of::<Conn<()>>());
    assert!(size_of::<FlowEntry<Conn<AppSink>>>() <= 64);
    // What a connection costs once it has a second packet (for docs/performance.md).
    assert!(size_of::<Connection<AppSink>>() > 1000);
}
