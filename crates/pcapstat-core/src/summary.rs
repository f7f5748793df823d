//! A capture's summary: what is in the file, frame by frame, before any flow analysis.

use std::collections::BTreeMap;

use crate::capture::{Capture, CaptureError, CaptureFormat, Compression, Damaged, LinkType};
use crate::decode::{DecodeStats, Decoder};

/// What a capture holds: container, link types, time range, sizes and what decoding found.
#[derive(Debug, Clone)]
pub struct CaptureSummary {
    /// Container format (of the first section, for pcapng).
    pub format: CaptureFormat,
    /// Compression around the container.
    pub compression: Compression,
    /// Frames per link type.
    pub link_types: BTreeMap<LinkType, u64>,
    /// pcapng sections (0 for legacy pcap).
    pub sections: u64,
    /// Frames read (before any damage).
    pub frames: u64,
    /// Sum of the frames' on-the-wire lengths, bytes.
    pub bytes: u64,
    /// Sum of the captured lengths, bytes.
    pub captured_bytes: u64,
    /// Earliest frame timestamp (ns since the epoch); `None` without frames.
    pub first_ts: Option<i64>,
    /// Latest frame timestamp (ns since the epoch); `None` without frames.
    pub last_ts: Option<i64>,
    /// Frames whose timestamp is earlier than the previous frame's.
    pub out_of_order_timestamps: u64,
    /// Decoding counters.
    pub decode: DecodeStats,
    /// Where the capture was damaged, if it was.
    pub damaged: Option<Damaged>,
}

impl CaptureSummary {
    /// `last_ts - first_ts`, nanoseconds.
    pub fn duration_ns(&self) -> Option<i64> {
        Some(self.last_ts?.saturating_sub(self.first_ts?))
    }

    /// Reads every frame of `capture`, decoding each with `decoder`.
    ///
    /// Damage ends the scan and is recorded in [`CaptureSummary::damaged`]; everything before it is
    /// counted.
    ///
    /// # Errors
    /// [`CaptureError::Io`] when reading fails.
    pub fn scan(capture: &mut Capture, decoder: &mut Decoder) -> Result<Self, CaptureError> {
        let mut link_types = BTreeMap::new();
        let (mut frames, mut bytes, mut captured_bytes, mut ooo) = (0u64, 0u64, 0u64, 0u64);
        let (mut first_ts, mut last_ts, mut prev_ts): (Option<i64>, Option<i64>, Option<i64>) =
            (None, None, None);
        while let Some(frame) = capture.next_frame()? {
            frames += 1;
            bytes += u64::from(frame.orig_len.max(frame.data.len() as u32));
            captured_bytes += frame.data.len() as u64;
            *link_types.entry(frame.linktype).or_insert(0u64) += 1;
            first_ts = Some(first_ts.map_or(frame.ts_ns, |t| t.min(frame.ts_ns)));
            last_ts = Some(last_ts.map_or(frame.ts_ns, |t| t.max(frame.ts_ns)));
            if prev_ts.is_some_and(|p| frame.ts_ns < p) {
                ooo += 1;
            }
            prev_ts = Some(frame.ts_ns);
            let _ = decoder.decode(&frame);
        }
        Ok(CaptureSummary {
            format: capture.format(),
            compression: capture.compression(),
            link_types,
            sections: capture.sections(),
            frames,
            bytes,
            captured_bytes,
            first_ts,
            last_ts,
            out_of_order_timestamps: ooo,
            decode: decoder.stats().clone(),
            damaged: capture.damage().cloned(),
        })
    }
}
