//! Several captures of one capture point read as one timeline ([`Capture::merge`]): a k-way
//! merge on the timestamp of each input's next frame, which stays in its input's read window
//! until it is handed out (no copy, one window per input).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use super::{
    Advanced, CaptureError, CaptureItem, Damaged, DecryptionSecrets, Frame, FrameMeta, Interface,
    Single,
};
use crate::summary::InputSummary;

/// The state of a merge.
pub(super) struct Merge {
    inputs: Vec<Input>,
    /// Frames handed out.
    frames: u64,
    /// The merged interface table: one entry per (input, section, interface id) met.
    interfaces: Vec<Interface>,
    numbers: BTreeMap<(usize, u64, u32), u32>,
    /// The first damage met, with its input's name.
    damage: Option<Damaged>,
}

struct Input {
    name: String,
    reader: Single,
    /// The input's next frame, read (its bytes in the reader's window) and not handed out.
    ready: Option<(FrameMeta, Range<usize>)>,
    /// The input ended (at its end or at damage).
    done: bool,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
}

impl fmt::Debug for Merge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merge")
            .field(
                "inputs",
                &self.inputs.iter().map(|i| &i.name).collect::<Vec<_>>(),
            )
            .field("frames", &self.frames)
            .field("damage", &self.damage)
            .finish_non_exhaustive()
    }
}

impl Merge {
    /// `inputs` is not empty ([`Capture::merge`] checks).
    pub(super) fn new(inputs: Vec<(String, Single)>) -> Merge {
        Merge {
            inputs: inputs
                .into_iter()
                .map(|(name, reader)| Input {
                    name,
                    reader,
                    ready: None,
                    done: false,
                    first_ts: None,
                    last_ts: None,
                })
                .collect(),
            frames: 0,
            interfaces: Vec::new(),
            numbers: BTreeMap::new(),
            damage: None,
        }
    }

    /// The inputs, to merge again with others. A frame read and not handed out is lost, so
    /// this is for merges not yet read.
    pub(super) fn into_inputs(self) -> impl Iterator<Item = (String, Single)> {
        self.inputs.into_iter().map(|i| (i.name, i.reader))
    }

    pub(super) fn first(&self) -> &Single {
        // `new` is never given an empty list.
        &self.inputs[0].reader
    }

    pub(super) fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    pub(super) fn sections(&self) -> u64 {
        self.inputs.iter().map(|i| i.reader.sections()).sum()
    }

    pub(super) fn frames_read(&self) -> u64 {
        self.frames
    }

    pub(super) fn offset(&self) -> u64 {
        self.inputs.iter().map(|i| i.reader.offset()).sum()
    }

    pub(super) fn damage(&self) -> Option<&Damaged> {
        self.damage.as_ref()
    }

    pub(super) fn decryption_secrets(&mut self) -> Option<Vec<DecryptionSecrets>> {
        let mut all = Vec::new();
        for input in &mut self.inputs {
            all.extend(input.reader.decryption_secrets()?);
        }
        Some(all)
    }

    pub(super) fn inputs(&self) -> Vec<InputSummary> {
        self.inputs
            .iter()
            .map(|i| {
                // Frames handed out: the reader's count less the one waiting in its window.
                let frames = i.reader.frames_read() - u64::from(i.ready.is_some());
                InputSummary {
                    file: i.name.clone(),
                    format: i.reader.format(),
                    compression: i.reader.compression(),
                    sections: i.reader.sections(),
                    frames,
                    first_ts: i.first_ts,
                    last_ts: i.last_ts,
                    damaged: i.reader.damage().map(|d| named(d, &i.name)),
                }
            })
            .collect()
    }

    /// The next frame of the merged timeline or, when `secrets`, DSB ([`Capture::merge`]).
    pub(super) fn next(&mut self, secrets: bool) -> Result<Option<CaptureItem<'_>>, CaptureError> {
        // Every input without a frame waiting reads its next one (the input whose frame was
        // handed out last, and at the start all of them), in input order.
        for input in &mut self.inputs {
            if input.ready.is_some() || input.done {
                continue;
            }
            let advanced = input
                .reader
                .advance(secrets)
                .map_err(|e| CaptureError::Input {
                    file: input.name.clone(),
                    source: Box::new(e),
                })?;
            match advanced {
                Some(Advanced::Frame(meta, data)) => input.ready = Some((meta, data)),
                // Before the input's next frame, hence after the frame before it in its file.
                Some(Advanced::Secrets(dsb)) => return Ok(Some(CaptureItem::Secrets(dsb))),
                None => {
                    input.done = true;
                    if let (None, Some(d)) = (&self.damage, input.reader.damage()) {
                        self.damage = Some(named(d, &input.name));
                    }
                }
            }
        }
        // The earliest waiting frame; a tie goes to the first input (`min` keeps the first).
        let next = self
            .inputs
            .iter()
            .enumerate()
            .filter_map(|(i, input)| input.ready.as_ref().map(|(meta, _)| (meta.ts_ns, i)))
            .min();
        let Some((_, i)) = next else {
            return Ok(None);
        };
        let Some(input) = self.inputs.get_mut(i) else {
            return Ok(None);
        };
        let Some((meta, data)) = input.ready.take() else {
            return Ok(None);
        };
        input.first_ts.get_or_insert(meta.ts_ns);
        input.last_ts = Some(meta.ts_ns);
        let key = (i, input.reader.sections(), meta.interface);
        let interface = match self.numbers.get(&key) {
            Some(&n) => n,
            None => {
                let n = self.interfaces.len() as u32;
                // The reader checked the id when it read the frame (pcap: its one interface).
                let described = input.reader.interfaces().get(meta.interface as usize);
                self.interfaces
                    .push(described.copied().unwrap_or(Interface {
                        linktype: meta.linktype,
                        snaplen: 0,
                        units_per_sec: 1_000_000_000,
                        ts_offset_sec: 0,
                    }));
                self.numbers.insert(key, n);
                n
            }
        };
        let index = self.frames;
        self.frames += 1;
        Ok(Some(CaptureItem::Frame(Frame {
            index,
            ts_ns: meta.ts_ns,
            linktype: meta.linktype,
            interface,
            data: input.reader.source.window().get(data).unwrap_or(&[]),
            orig_len: meta.orig_len,
        })))
    }
}

/// `d` naming the input it is in.
fn named(d: &Damaged, name: &str) -> Damaged {
    Damaged {
        file: Some(name.to_string()),
        ..d.clone()
    }
}
