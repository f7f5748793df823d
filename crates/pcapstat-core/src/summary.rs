//! A capture's summary: what is in the file, frame by frame, before any flow analysis.

use std::collections::BTreeMap;

use crate::capture::{Capture, CaptureError, CaptureFormat, Compression, Damaged, Frame, LinkType};
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
    /// Where the capture was damaged, if it was (for a merge: the first damage met, naming its
    /// input; damage ends only its input).
    pub damaged: Option<Damaged>,
    /// The inputs of a merged capture ([`Capture::merge`]), in the order given; empty for a
    /// single capture.
    pub inputs: Vec<InputSummary>,
}

/// One input of a merged capture ([`Capture::merge`]): what was read of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSummary {
    /// The input's name (its path, for [`Capture::open_merged`]).
    pub file: String,
    /// Its container format.
    pub format: CaptureFormat,
    /// Its compression.
    pub compression: Compression,
    /// Its pcapng sections (0 for pcap).
    pub sections: u64,
    /// Its frames read (before its damage, if any).
    pub frames: u64,
    /// Timestamp of its first frame read, ns since the epoch (`None` without frames).
    pub first_ts: Option<i64>,
    /// Timestamp of its last frame read (in its own order).
    pub last_ts: Option<i64>,
    /// Where it was damaged, if it was (`file` set).
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
        let mut b = SummaryBuilder::default();
        while let Some(frame) = capture.next_frame()? {
            b.observe(&frame);
            let _ = decoder.decode(&frame);
        }
        Ok(b.finish(capture, decoder.stats().clone()))
    }
}

/// Accumulates a [`CaptureSummary`] frame by frame, for readers that do more than summarise
/// (see [`crate::pipeline`]).
#[derive(Debug, Clone, Default)]
pub struct SummaryBuilder {
    link_types: BTreeMap<LinkType, u64>,
    /// Frames of the link type of the latest frames not yet added to `link_types` (a capture
    /// is mostly one link type: one map update per run instead of one per frame).
    run: Option<(LinkType, u64)>,
    frames: u64,
    bytes: u64,
    captured_bytes: u64,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    prev_ts: Option<i64>,
    out_of_order: u64,
}

impl SummaryBuilder {
    /// Count one frame.
    pub fn observe(&mut self, frame: &Frame) {
        self.frames += 1;
        self.bytes += u64::from(frame.orig_len.max(frame.data.len() as u32));
        self.captured_bytes += frame.data.len() as u64;
        match &mut self.run {
            Some((lt, n)) if *lt == frame.linktype => *n += 1,
            run => {
                if let Some((lt, n)) = run.replace((frame.linktype, 1)) {
                    *self.link_types.entry(lt).or_insert(0) += n;
                }
            }
        }
        self.first_ts = Some(self.first_ts.map_or(frame.ts_ns, |t| t.min(frame.ts_ns)));
        self.last_ts = Some(self.last_ts.map_or(frame.ts_ns, |t| t.max(frame.ts_ns)));
        if self.prev_ts.is_some_and(|p| frame.ts_ns < p) {
            self.out_of_order += 1;
        }
        self.prev_ts = Some(frame.ts_ns);
    }

    /// Counts the frames `later` counted as if they had been observed here, after this one's
    /// (a region of the capture counted by another thread, `pipeline::parallel`): the totals,
    /// link types and times as [`SummaryBuilder::observe`] of each frame in turn would leave
    /// them, the out-of-order count with the step between the two. `head` is the time of
    /// `later`'s first frame (its caller holds the frames; `None`: `later` counted none).
    pub(crate) fn merge(&mut self, later: &SummaryBuilder, head: Option<i64>) {
        let Some(head) = head else {
            return;
        };
        self.frames += later.frames;
        self.bytes += later.bytes;
        self.captured_bytes += later.captured_bytes;
        for (lt, n) in &later.link_types {
            *self.link_types.entry(*lt).or_insert(0) += n;
        }
        if let Some((lt, n)) = later.run {
            match &mut self.run {
                Some((mine, m)) if *mine == lt => *m += n,
                run => {
                    if let Some((mine, m)) = run.replace((lt, n)) {
                        *self.link_types.entry(mine).or_insert(0) += m;
                    }
                }
            }
        }
        self.first_ts = self.first_ts.min(later.first_ts).or(later.first_ts);
        self.last_ts = self.last_ts.max(later.last_ts);
        if self.prev_ts.is_some_and(|p| head < p) {
            self.out_of_order += 1;
        }
        self.out_of_order += later.out_of_order;
        self.prev_ts = later.prev_ts;
    }

    /// Latest frame timestamp so far.
    pub fn last_ts(&self) -> Option<i64> {
        self.last_ts
    }

    /// The summary, with the container facts of `capture` (and of each input of a merge) and the decoder's counters.
    pub fn finish(mut self, capture: &Capture, decode: DecodeStats) -> CaptureSummary {
        if let Some((lt, n)) = self.run.take() {
            *self.link_types.entry(lt).or_insert(0) += n;
        }
        CaptureSummary {
            format: capture.format(),
            compression: capture.compression(),
            link_types: self.link_types,
            sections: capture.sections(),
            frames: self.frames,
            bytes: self.bytes,
            captured_bytes: self.captured_bytes,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            out_of_order_timestamps: self.out_of_order,
            decode,
            damaged: capture.damage().cloned(),
            inputs: capture.inputs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a builder has counted, its last run of link types settled.
    fn counted(mut b: SummaryBuilder) -> String {
        if let Some((lt, n)) = b.run.take() {
            *b.link_types.entry(lt).or_insert(0) += n;
        }
        format!(
            "{:?} frames {} bytes {} captured {} first {:?} last {:?} out of order {}",
            b.link_types,
            b.frames,
            b.bytes,
            b.captured_bytes,
            b.first_ts,
            b.last_ts,
            b.out_of_order
        )
    }

    /// Counting frames in two parts and merging the second into the first counts as observing
    /// them all in turn, wherever the split falls (and with a part empty): frames with times
    /// out of order (at the split too), two link types in runs, captured shorter than original.
    #[test]
    fn merging_a_later_part_counts_as_observing_it() {
        let data = [0u8; 64];
        let frames: Vec<Frame<'_>> = [
            (5, 1, 40),
            (3, 1, 60),
            (9, 1, 64),
            (9, 113, 30),
            (2, 113, 64),
            (7, 1, 64),
            (8, 1, 10),
            (1, 1, 64),
            (4, 113, 64),
        ]
        .iter()
        .enumerate()
        .map(|(i, &(ts, lt, len))| Frame {
            index: i as u64,
            ts_ns: ts,
            linktype: LinkType(lt),
            interface: 0,
            data: &data[..len],
            orig_len: 64 + ts as u32,
        })
        .collect();
        let mut all = SummaryBuilder::default();
        for f in &frames {
            all.observe(f);
        }
        let all = counted(all);
        for split in 0..=frames.len() {
            for first_split in 0..=split {
                // Three parts: [0, first_split), [first_split, split), [split, end).
                let mut parts = [
                    SummaryBuilder::default(),
                    SummaryBuilder::default(),
                    SummaryBuilder::default(),
                ];
                for (i, f) in frames.iter().enumerate() {
                    let k = usize::from(i >= first_split) + usize::from(i >= split);
                    parts[k].observe(f);
                }
                let [mut a, b, c] = parts;
                // The first time of each later part (none when it is empty).
                let head = |i: usize| frames.get(i).map(|f| f.ts_ns);
                a.merge(&b, head(first_split).filter(|_| first_split < split));
                a.merge(&c, head(split));
                assert_eq!(counted(a), all, "split at {first_split} and {split}");
            }
        }
    }
}
