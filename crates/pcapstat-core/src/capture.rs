//! Capture reading: legacy pcap and pcapng (blocks parsed by pcap-parser), plain or gzip/zstd
//! compressed, from a file, a reader or a byte buffer.
//!
//! Guarantees:
//! - Every timestamp becomes `i64` nanoseconds since the Unix epoch here, exactly once (pcap µs/ns
//!   magics; pcapng `if_tsresol`, powers of 10 and of 2, and `if_tsoffset`).
//! - Nothing is allocated from an untrusted length without a bound: a record or block larger than
//!   [`MAX_BLOCK_LEN`] is damage, not an allocation.
//! - Damage (a cut or corrupt record) ends the frame sequence: [`Capture::next_frame`] returns
//!   `Ok(None)` and [`Capture::damage`] tells where (byte offset in the uncompressed stream, number of
//!   frames read before it) and why. Every frame before the damage has been delivered.
//! - Real I/O errors are errors ([`CaptureError::Io`]), never mistaken for the end of the file.
//!
//! Files, compressed files and standard input are streamed through a bounded buffer, never
//! decompressed to disk or wholly into memory; plain files are memory-mapped instead when the
//! caller chooses it ([`MmapChoice`]).

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pcap_parser::pcapng::{
    parse_block_be, parse_block_le, Block, EnhancedPacketBlock, InterfaceDescriptionBlock,
};
use pcap_parser::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified};

use crate::summary::InputSummary;

mod merge;

/// A link-layer header type number (LINKTYPE_* from tcpdump.org), open so unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback (4-byte address family in host byte order).
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (OpenBSD value 12; also 14 on some platforms).
    pub const RAW_12: LinkType = LinkType(12);
    /// Raw IP alias used on some BSDs.
    pub const RAW_14: LinkType = LinkType(14);
    /// Raw IP.
    pub const RAW: LinkType = LinkType(101);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// OpenBSD loopback (4-byte address family in network byte order).
    pub const LOOP: LinkType = LinkType(108);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux netfilter log (NFLOG): a 4-byte header, then type-length-value attributes, one of
    /// which holds the logged IP packet.
    pub const NFLOG: LinkType = LinkType(239);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// A short human name, when pcapstat knows this link type.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            LinkType::NULL => "NULL",
            LinkType::ETHERNET => "Ethernet",
            LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => "Raw IP",
            LinkType::LINUX_SLL => "Linux cooked v1",
            LinkType::LOOP => "LOOP",
            LinkType::IPV4 => "Raw IPv4",
            LinkType::IPV6 => "Raw IPv6",
            LinkType::NFLOG => "NFLOG",
            LinkType::LINUX_SLL2 => "Linux cooked v2",
            _ => return None,
        })
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "linktype {}", self.0),
        }
    }
}

/// One captured frame, borrowed from the capture's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 0-based index of the frame in the file (in a merge: in the merged timeline).
    pub index: u64,
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Link-layer type of the interface the frame was captured on.
    pub linktype: LinkType,
    /// pcapng interface id (0 for legacy pcap); in a merge, a number of the merge's own
    /// ([`Capture::interfaces`]), distinct for each input's interfaces.
    pub interface: u32,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Length of the packet on the wire (may exceed `data.len()` when cut by the snap length).
    pub orig_len: u32,
}

/// The container format of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptureFormat {
    /// Legacy libpcap format.
    Pcap {
        /// Header and records are big-endian.
        big_endian: bool,
        /// Timestamps have nanosecond (not microsecond) resolution.
        nanosecond: bool,
        /// Kuznetzov's "modified" pcap (24-byte record headers).
        modified: bool,
    },
    /// pcapng. The byte order is per section; this is the first section's.
    PcapNg {
        /// The first section is big-endian.
        big_endian: bool,
    },
}

impl fmt::Display for CaptureFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = |be: bool| if be { "big-endian" } else { "little-endian" };
        match *self {
            CaptureFormat::Pcap {
                big_endian,
                nanosecond,
                modified,
            } => write!(
                f,
                "pcap{} ({}, {} timestamps)",
                if modified { " (modified)" } else { "" },
                order(big_endian),
                if nanosecond { "ns" } else { "µs" }
            ),
            CaptureFormat::PcapNg { big_endian } => write!(f, "pcapng ({})", order(big_endian)),
        }
    }
}

/// Compression wrapped around the capture, detected from magic bytes (never from the file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (one or more members).
    Gzip,
    /// Zstandard.
    Zstd,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// One capture interface (pcapng IDB; legacy pcap has exactly one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// Link-layer type.
    pub linktype: LinkType,
    /// Snap length (0 = unlimited).
    pub snaplen: u32,
    /// Timestamp units per second (1_000_000 for µs).
    pub units_per_sec: u64,
    /// `if_tsoffset`: seconds added to every timestamp.
    pub ts_offset_sec: i64,
}

/// Why reading stopped before the end of the data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Damage {
    /// The data ends inside a record or block.
    Truncated {
        /// Bytes the record or block needs.
        needed: u64,
        /// Bytes that were left.
        available: u64,
    },
    /// A pcapng block length that cannot be right.
    BadBlockLength {
        /// The length read.
        len: u64,
        /// Why it was rejected.
        why: &'static str,
    },
    /// A pcapng block whose trailing length differs from its leading one.
    BlockLengthMismatch {
        /// Leading length.
        first: u32,
        /// Trailing length.
        second: u32,
    },
    /// A legacy pcap record larger than the snap length allows.
    CaplenTooLarge {
        /// Captured length in the record header.
        caplen: u32,
        /// The largest accepted.
        max: u32,
    },
    /// A legacy pcap record that captured no byte.
    ZeroLengthRecord,
    /// A pcapng section header whose major version is not 1.
    UnsupportedVersion {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// A packet block naming an interface that was not described.
    UnknownInterface {
        /// The interface id.
        id: u32,
    },
    /// A pcapng block with an unknown byte-order magic, or a block before any section header.
    BadSection,
    /// A block or record whose content does not parse.
    Malformed {
        /// Which block or record.
        what: &'static str,
    },
    /// The compressed stream is corrupt or cut short.
    Decompression(String),
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Truncated { needed, available } => write!(
                f,
                "file ends inside a record ({needed} bytes needed, {available} left)"
            ),
            Damage::BadBlockLength { len, why } => write!(f, "block length {len} is {why}"),
            Damage::BlockLengthMismatch { first, second } => write!(
                f,
                "block length {first} does not match its trailing copy {second}"
            ),
            Damage::CaplenTooLarge { caplen, max } => write!(
                f,
                "record captured length {caplen} exceeds the snap length {max}"
            ),
            Damage::ZeroLengthRecord => write!(f, "record with a captured length of 0"),
            Damage::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported pcapng section version {major}.{minor}")
            }
            Damage::UnknownInterface { id } => {
                write!(f, "packet names interface {id}, which was not described")
            }
            Damage::BadSection => write!(f, "pcapng block outside a valid section"),
            Damage::Malformed { what } => write!(f, "malformed {what}"),
            Damage::Decompression(msg) => write!(f, "compressed stream damaged: {msg}"),
        }
    }
}

/// Where and why a capture was found damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// Byte offset (in the uncompressed stream) of the record or block that is damaged.
    pub offset: u64,
    /// Number of frames read before the damage.
    pub frame: u64,
    /// What is wrong.
    pub reason: Damage,
    /// The input file the damage is in, for a merge of several captures ([`Capture::merge`]);
    /// `offset` and `frame` are then that file's. `None` for a single capture.
    pub file: Option<String>,
}

impl fmt::Display for Damaged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            None => write!(
                f,
                "capture damaged at byte {} after frame {}: {}",
                self.offset, self.frame, self.reason
            ),
            Some(file) => write!(
                f,
                "capture damaged in {file} at byte {} after its frame {}: {}",
                self.offset, self.frame, self.reason
            ),
        }
    }
}

/// Errors that stop a capture from being read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The data is not a pcap or pcapng capture (nor a compressed one).
    #[error("not a pcap or pcapng file (first bytes: {})", hex(first_bytes))]
    UnknownFormat {
        /// Up to the first 8 bytes of the (decompressed) data.
        first_bytes: Vec<u8>,
    },
    /// The data is empty.
    #[error("empty file: not a pcap or pcapng capture")]
    Empty,
    /// The capture is damaged and strict reading was requested, or it is damaged before its header.
    #[error("{0}")]
    Damaged(Damaged),
    /// An I/O error while reading.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A merge of no capture at all ([`Capture::merge`]).
    #[error("no capture to merge")]
    NoInput,
    /// One input of a merge ([`Capture::merge`]) cannot be opened or read.
    #[error("{file}: {source}")]
    Input {
        /// The input's name.
        file: String,
        /// What went wrong with it.
        source: Box<CaptureError>,
    },
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "none".to_string();
    }
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    let printable: String = bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    format!("{s} \"{printable}\"")
}

/// The largest pcapng block or pcap record accepted (bytes). Larger lengths are damage: this bounds
/// what one untrusted length field can make the reader allocate. (Wireshark's largest packet is 256 KiB
/// for most link types; blocks may carry options and other data, hence the margin.)
pub const MAX_BLOCK_LEN: usize = 16 * 1024 * 1024;

/// The largest captured length accepted in a legacy pcap record when the snap length is smaller.
const MAX_PACKET_LEN: u32 = 262_144;

const READ_CHUNK: usize = 256 * 1024;

/// The size of a stream's buffer once chunks of the pipeline hold the one before
/// ([`Capture::stream_buffer`]): the frames of one buffer go out in place, as one chunk or a few.
const STREAM_BUFFER: usize = 1 << 20;
/// Earlier buffers of a stream kept for reuse (those chunks still hold are reused once they no
/// longer do): a few more than the chunks in flight, so that a stream's reading stops
/// allocating after its first buffers.
const RETIRED_BUFFERS: usize = 12;

/// The bytes behind a capture: a whole buffer (memory map or owned) or a bounded stream window.
enum Source {
    Whole {
        bytes: SharedBytes,
        pos: usize,
        /// How far [`SharedBytes::stream`] has asked for the cache lines.
        streamed: usize,
    },
    Stream {
        reader: Box<dyn Read + Send>,
        /// The window's buffer (`start..end` of it), shared with the pipeline's chunks whose
        /// frames lie in it ([`Capture::stream_buffer`]). While it is shared it is never
        /// written again: reading on moves the unread bytes to a buffer nobody holds.
        buf: Arc<Vec<u8>>,
        /// Buffers the window left while chunks held them, reused once none does.
        retired: Vec<Arc<Vec<u8>>>,
        start: usize,
        end: usize,
        eof: bool,
        /// Absolute offset of `buf[0]`.
        base: u64,
        /// Whether read errors come from a decompressor (and are damage, not I/O errors).
        compressed: bool,
        /// The decompressor's error, given again to every later call that needs more bytes
        /// (so a look-ahead that met it does not hide it from the reading proper).
        failed: Option<String>,
    },
}

/// How far ahead of the reading position [`SharedBytes::stream`] asks for the cache lines: a
/// few frames (0 to 8 KiB were alike, 16 and 32 KiB slower; issue #13, 2026-12-07).
const PREFETCH_AHEAD: usize = 4096;

/// Gives the pipe behind `fd` a buffer of 1 MiB, or of the most of 512 and 256 KiB the system
/// allows: a capture written into a pipe (`tcpdump -w - | pcapstat analyze -`) then comes in
/// reads of up to that much instead of 64 KiB, and the writer and the reading thread wait on
/// each other far less often (docs/performance.md, "Standard input"). Nothing for a file that
/// is not a pipe, or on other systems; a refusal (a lower `/proc/sys/fs/pipe-max-size`, the
/// user's pipe quota) leaves the pipe as it was.
pub fn widen_pipe(fd: &impl std::os::fd::AsFd) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let raw = fd.as_fd().as_raw_fd();
        // SAFETY (both calls): `raw` is an open descriptor, borrowed from `fd` for this call;
        // F_GETPIPE_SZ reads a pipe's capacity and F_SETPIPE_SZ sets it, and on any other file
        // both fail (EBADF) without effect. No memory is passed.
        #[allow(unsafe_code)]
        let now = unsafe { libc::fcntl(raw, libc::F_GETPIPE_SZ) };
        if now < 0 {
            // Not a pipe.
            return;
        }
        for size in [1 << 20, 512 << 10, 256 << 10] {
            if now >= size {
                // Never made smaller.
                return;
            }
            #[allow(unsafe_code)]
            let set = unsafe { libc::fcntl(raw, libc::F_SETPIPE_SZ, size) };
            if set >= 0 {
                return;
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}

/// Asks the CPU to start loading the first cache line of `bytes` (a hint: nothing is read
/// into the program, and a bad address is ignored).
#[inline]
pub(crate) fn prefetch(bytes: &[u8]) {
    prefetch_any(bytes.as_ptr());
}

/// [`prefetch`] of the cache line at `at`, any address.
#[inline]
pub(crate) fn prefetch_any<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is in the target's
        // baseline); a prefetch is a hint that reads nothing into the program and never
        // faults, whatever the address.
        #[allow(unsafe_code)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(at.cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Asks the CPU to bring the cache line at `at` into this core's cache, owned for writing
/// (`prefetchw`): memory this thread is about to write which another core last held (a batch
/// the other thread tracked), so that the stores do not wait for it one by one.
#[inline]
pub(crate) fn prefetch_write<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `prefetchw` is a hint: it reads nothing into the program, writes nothing,
        // never faults whatever the address, and is a no-op on the x86_64 CPUs without it.
        #[allow(unsafe_code)]
        unsafe {
            std::arch::asm!("prefetchw [{0}]", in(reg) at, options(nostack, preserves_flags, readonly));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// A whole capture in memory (mapped or owned), shared with the pipeline's workers, which read
/// payloads in place ([`Capture::shared_bytes`]).
#[derive(Clone)]
pub(crate) struct SharedBytes(Arc<Bytes>);

/// The page size `release` rounds to.
#[cfg(target_os = "linux")]
const PAGE: usize = 4096;

enum Bytes {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl SharedBytes {
    fn new(bytes: Bytes) -> SharedBytes {
        SharedBytes(Arc::new(bytes))
    }

    /// Bytes held in memory.
    pub(crate) fn owned(bytes: Vec<u8>) -> SharedBytes {
        SharedBytes::new(Bytes::Owned(bytes))
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match &*self.0 {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }

    /// Asks the CPU to start loading every cache line up to [`PREFETCH_AHEAD`] bytes past
    /// `pos` that it has not asked for yet (`streamed`: where it stopped last time). A reader
    /// walks a capture from record header to record header, each known only once the previous
    /// one is read: without this every header waits on memory in turn (80 % of the scan's
    /// samples with `--threads 2`). One cache line a frame, `PREFETCH_AHEAD` on, was not
    /// enough: the next headers fall on any of the lines between. Asking for all of them in
    /// order (about six a frame on the request-heavy benchmark, 18 on bulk) also sets the CPU's own
    /// prefetcher streaming (docs/performance.md).
    #[inline]
    pub(crate) fn stream(&self, streamed: &mut usize, pos: usize) {
        let all = self.as_slice();
        let to = pos.saturating_add(PREFETCH_AHEAD).min(all.len());
        let mut at = (*streamed).max(pos);
        while at < to {
            if let Some(line) = all.get(at..) {
                prefetch(line);
            }
            at += 64;
        }
        *streamed = at;
    }

    /// Whether the bytes are a memory-mapped file (whose pages are mapped on first touch).
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(&*self.0, Bytes::Map(_))
    }

    /// Unmaps the pages wholly inside `[offset, offset + len)` of a mapped file
    /// (`MADV_DONTNEED`): the pipeline is done with them, so they need not stay in the
    /// process (they count in its resident memory, and unmapping all of them at the end would
    /// take one thread tens of milliseconds on a capture of gigabytes). They stay in the page
    /// cache. Best effort: nothing on owned bytes or other systems.
    pub(crate) fn release(&self, offset: usize, len: usize) {
        #[cfg(target_os = "linux")]
        if let Bytes::Map(m) = &*self.0 {
            let start = offset.div_ceil(PAGE).saturating_mul(PAGE);
            let end = offset.saturating_add(len).min(m.len());
            let end = end - end % PAGE;
            if end > start {
                // SAFETY: the map is read-only and backed by a file, never written through
                // (its memory is only ever read as `&[u8]`), so dropping its pages frees no
                // data: a later read of them faults them in again from the file, with the same
                // bytes (the same contract as the map itself: the file must not change while
                // it is read, `MmapChoice::auto`). No reference reads these pages any more
                // anyway: the caller releases only what every thread is done with.
                #[allow(unsafe_code)]
                let _ = unsafe {
                    m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
                };
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (offset, len);
    }

    /// Where `part` lies in these bytes, when it is a slice of them (compared by address: a
    /// frame read from a whole capture borrows from it; a reassembled IP datagram does not).
    pub(crate) fn offset_of(&self, part: &[u8]) -> Option<usize> {
        let whole = self.as_slice();
        let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
        (start.checked_add(part.len())? <= whole.len()).then_some(start)
    }
}

/// A failure to fill the window: a real I/O error, or a damaged compressed stream.
enum FillError {
    Io(io::Error),
    Decompression(String),
}

impl Source {
    /// Makes at least `need` bytes available from the current position, unless the data ends
    /// first. Returns how many are available.
    fn ensure(&mut self, need: usize) -> Result<usize, FillError> {
        match self {
            Source::Whole { bytes, pos, .. } => Ok(bytes.as_slice().len().saturating_sub(*pos)),
            Source::Stream {
                reader,
                buf,
                retired,
                start,
                end,
                eof,
                base,
                compressed,
                failed,
            } => {
                if *end - *start < need {
                    if let Some(msg) = failed {
                        return Err(FillError::Decompression(msg.clone()));
                    }
                }
                while *end - *start < need && !*eof {
                    if Arc::get_mut(buf).is_none() {
                        // Chunks hold it: the unread bytes move to a buffer none holds.
                        let unread = buf.get(*start..*end).unwrap_or_default();
                        let next = unheld_buffer(retired, STREAM_BUFFER.max(need), unread);
                        *base += *start as u64;
                        *end -= *start;
                        *start = 0;
                        let held = std::mem::replace(buf, Arc::new(next));
                        // Only buffers of the usual size are kept: one grown for a large
                        // record is freed once its chunks are done (a stream of large
                        // records would otherwise keep a dozen of them).
                        if held.len() <= STREAM_BUFFER {
                            retired.push(held);
                            if retired.len() > RETIRED_BUFFERS {
                                retired.remove(0);
                            }
                        }
                    }
                    // Nobody else holds it now (made just above, or not shared).
                    let Some(buf) = Arc::get_mut(buf) else {
                        break;
                    };
                    if *start > 0 && (*start >= buf.len() / 2 || buf.len() - *start < need) {
                        buf.copy_within(*start..*end, 0);
                        *base += *start as u64;
                        *end -= *start;
                        *start = 0;
                    }
                    let want = (need - (*end - *start)).max(READ_CHUNK);
                    if buf.len() < *end + want {
                        buf.resize(*end + want, 0);
                    }
                    // One read, of all the room there is (a file fills it; a pipe gives what
                    // it holds rather than waiting for more).
                    match reader.read(buf.get_mut(*end..).unwrap_or_default()) {
                        Ok(0) => *eof = true,
                        Ok(n) => *end += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if *compressed => {
                            *eof = true;
                            *failed = Some(e.to_string());
                            return Err(FillError::Decompression(e.to_string()));
                        }
                        Err(e) => return Err(FillError::Io(e)),
                    }
                }
                Ok(*end - *start)
            }
        }
    }

    /// The available bytes from the current position.
    fn window(&self) -> &[u8] {
        match self {
            Source::Whole { bytes, pos, .. } => bytes.as_slice().get(*pos..).unwrap_or(&[]),
            Source::Stream {
                buf, start, end, ..
            } => buf.get(*start..*end).unwrap_or(&[]),
        }
    }

    fn consume(&mut self, n: usize) {
        match self {
            Source::Whole {
                bytes,
                pos,
                streamed,
            } => {
                *pos += n;
                bytes.stream(streamed, *pos);
            }
            Source::Stream { start, end, .. } => *start = (*start + n).min(*end),
        }
    }

    fn offset(&self) -> u64 {
        match self {
            Source::Whole { pos, .. } => *pos as u64,
            Source::Stream { start, base, .. } => *base + *start as u64,
        }
    }
}

/// A buffer of at least `size` bytes that no chunk holds (a retired one when there is, else a
/// new one), starting with `unread`.
fn unheld_buffer(retired: &mut Vec<Arc<Vec<u8>>>, size: usize, unread: &[u8]) -> Vec<u8> {
    let unheld = retired.iter().position(|b| Arc::strong_count(b) == 1);
    let next = unheld.and_then(|i| Arc::try_unwrap(retired.swap_remove(i)).ok());
    let mut next = next.unwrap_or_default();
    if next.len() < size {
        // Grown only for a record larger than the usual buffer (at most `MAX_BLOCK_LEN`).
        next.resize(size, 0);
    }
    if let Some(to) = next.get_mut(..unread.len()) {
        to.copy_from_slice(unread);
    }
    next
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        })
    }
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let a: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        })
    }
}

/// Format-specific reading state.
#[derive(Clone, Copy)]
enum State {
    Pcap {
        endian: Endian,
        nanosecond: bool,
        modified: bool,
        max_caplen: u32,
    },
    PcapNg {
        /// Byte order of the current section; `None` before the first section header.
        endian: Option<Endian>,
    },
}

const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 0x0000_0001;
const OPB_TYPE: u32 = 0x0000_0002;
const SPB_TYPE: u32 = 0x0000_0003;
const EPB_TYPE: u32 = 0x0000_0006;
const BOM: u32 = 0x1A2B_3C4D;
const DSB_TYPE: u32 = 0x0000_000A;

/// Most secrets bytes [`Capture::decryption_secrets`] returns (the rest is not read).
pub const MAX_SECRETS_BYTES: usize = 64 * 1024 * 1024;

/// Type and total length of the pcapng block starting `bytes`; `endian` is the section's
/// byte order, updated at a section header block. `None` when the length is not sane.
fn block_head(bytes: &[u8], endian: &mut Endian) -> Option<(u32, usize)> {
    let head = bytes.get(..12)?;
    if Endian::Little.u32(head, 0) == Some(SHB_TYPE) {
        *endian = match Endian::Little.u32(head, 8) {
            Some(BOM) => Endian::Little,
            Some(0x4D3C_2B1A) => Endian::Big,
            _ => return None,
        };
    }
    let ty = endian.u32(head, 0)?;
    let len = endian.u32(head, 4)? as usize;
    Some((ty, len)).filter(|_| len >= 12 && len.is_multiple_of(4) && len <= MAX_BLOCK_LEN)
}

/// The DSBs of a run of pcapng blocks (`bytes` starts with a section header block), stopping at
/// the first insane length; `leading`: stop at the first packet block too.
fn scan_secrets(all: &[u8], leading: bool) -> Vec<DecryptionSecrets> {
    let mut out = Vec::new();
    let (mut pos, mut endian, mut total) = (0usize, Endian::Little, 0usize);
    while let Some((ty, len)) = all.get(pos..).and_then(|b| block_head(b, &mut endian)) {
        if leading && matches!(ty, EPB_TYPE | SPB_TYPE | OPB_TYPE) {
            break;
        }
        let Some(block) = all.get(pos..pos + len) else {
            break;
        };
        if ty == DSB_TYPE {
            let body = block.get(8..len - 4).unwrap_or_default();
            let secrets_type = endian.u32(body, 0);
            let n = endian.u32(body, 4).map(|n| n as usize);
            if let (Some(secrets_type), Some(n)) = (secrets_type, n) {
                if let Some(data) = body.get(8..8 + n) {
                    total += n;
                    if total > MAX_SECRETS_BYTES {
                        break;
                    }
                    out.push(DecryptionSecrets {
                        secrets_type,
                        data: data.to_vec(),
                    });
                }
            }
        }
        pos += len;
    }
    out
}

/// The blocks of a pcapng file that [`scan_secrets`] reads (section headers and DSBs, in file
/// order), found block head by block head: a second pass over the file through a buffer, as
/// `scan_secrets` makes over a mapped file. Stops where `scan_secrets` would (an insane length),
/// at a read error, and after [`MAX_SECRETS_BYTES`] of them.
fn file_secret_blocks(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(file) = File::open(path) else {
        return out;
    };
    let mut reader = BufReader::with_capacity(READ_CHUNK, file);
    let mut endian = Endian::Little;
    let mut head = [0u8; 12];
    while out.len() <= MAX_SECRETS_BYTES {
        if !matches!(read_up_to(&mut reader, &mut head), Ok(12)) {
            break;
        }
        let Some((ty, len)) = block_head(&head, &mut endian) else {
            break;
        };
        if ty == SHB_TYPE || ty == DSB_TYPE {
            let start = out.len();
            out.extend_from_slice(&head);
            out.resize(start + len, 0);
            if !matches!(read_up_to(&mut reader, &mut out[start + 12..]), Ok(n) if n == len - 12) {
                out.truncate(start);
                break;
            }
        } else if reader.seek_relative(len as i64 - 12).is_err() {
            break;
        }
    }
    out
}

/// Whether [`Capture::open_with`] may memory-map a file (as ripgrep's `MmapChoice`). Mapping
/// saves copying the file through a buffer; it is `unsafe` to choose because the map is only
/// sound while nobody changes the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MmapChoice(bool);

impl MmapChoice {
    /// Never map: files are read through a bounded buffer (the default).
    pub fn never() -> Self {
        MmapChoice(false)
    }

    /// Map plain regular files when the system allows it (else read them).
    ///
    /// # Safety
    /// The capture is read from the map as if it were memory the program owns. The caller
    /// promises that no process modifies or truncates a mapped file while it is read: a
    /// truncated file may kill the process (SIGBUS), a modified one may change under the
    /// parser (undefined behaviour). Captures a tool writes once and then hands over are fine;
    /// a file `tcpdump -w` is still writing is not.
    #[allow(unsafe_code)]
    pub unsafe fn auto() -> Self {
        MmapChoice(true)
    }
}

/// One pcapng Decryption Secrets Block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptionSecrets {
    /// Secrets type (0x544c534b "TLSK" = NSS key log, 0x57474b4c WireGuard, …).
    pub secrets_type: u32,
    /// The secrets (for TLSK: key log text).
    pub data: Vec<u8>,
}

/// What one step of the reading loop found.
enum Step {
    /// A frame at `range` of the window (relative to the current position); the block is `len` long.
    Frame {
        meta: FrameMeta,
        data: std::ops::Range<usize>,
        len: usize,
    },
    /// A block that carries no frame, `len` bytes long.
    Skip(usize),
    /// A Decryption Secrets Block `len` bytes long: secrets type and the secrets' range of the
    /// window.
    Secrets {
        secrets_type: u32,
        data: std::ops::Range<usize>,
        len: usize,
    },
}

/// What [`Capture::next_item`] reads: a frame, or a Decryption Secrets Block met between frames.
#[derive(Debug)]
pub enum CaptureItem<'a> {
    /// A captured frame.
    Frame(Frame<'a>),
    /// A pcapng Decryption Secrets Block, at its place in the file: the frames before it were
    /// returned before it, the frames after it come after.
    Secrets(DecryptionSecrets),
}

/// What [`Capture::advance`] stopped at.
enum Advanced {
    /// A frame: its metadata and its bytes' range of the window.
    Frame(FrameMeta, std::ops::Range<usize>),
    Secrets(DecryptionSecrets),
}

struct FrameMeta {
    ts_ns: i64,
    linktype: LinkType,
    interface: u32,
    orig_len: u32,
}

/// A capture being read, frame by frame.
///
/// ```
/// use pcapstat_core::Capture;
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab/d_tls_resumption/capture.pcapng");
/// let mut capture = Capture::open(path)?;
/// let mut frames = 0;
/// while let Some(frame) = capture.next_frame()? {
///     assert!(frame.ts_ns > 0);
///     frames += 1;
/// }
/// assert!(frames > 0 && capture.damage().is_none());
/// # Ok::<(), pcapstat_core::CaptureError>(())
/// ```
///
/// Several captures of one capture point (rotated files) read as one: [`Capture::merge`].
pub struct Capture {
    inner: Inner,
}

// One `Capture` per analysis: the size does not matter, and the reader of one file (the hot
// path, a call per frame) stays unboxed.
#[allow(clippy::large_enum_variant)]
enum Inner {
    One(Single),
    Merged(Box<merge::Merge>),
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::One(one) => one.fmt(f),
            Inner::Merged(m) => m.fmt(f),
        }
    }
}

impl Capture {
    fn one(single: Single) -> Capture {
        Capture {
            inner: Inner::One(single),
        }
    }

    /// Opens a capture file, read through a bounded buffer (decompressing gzip or zstd when the
    /// first bytes say so). [`Capture::open_with`] may memory-map it instead.
    ///
    /// # Errors
    /// I/O errors opening or reading the file; [`CaptureError::Empty`] and
    /// [`CaptureError::UnknownFormat`] when it is not a capture.
    pub fn open(path: impl AsRef<Path>) -> Result<Capture, CaptureError> {
        Self::open_with(path, MmapChoice::never())
    }

    /// Opens a capture file as [`Capture::open`], memory-mapped when `mmap` allows it and the
    /// file is a plain (uncompressed) regular file; files that cannot be mapped are read.
    ///
    /// # Errors
    /// As [`Capture::open`].
    pub fn open_with(path: impl AsRef<Path>, mmap: MmapChoice) -> Result<Capture, CaptureError> {
        Single::open_with(path, mmap).map(Capture::one)
    }

    /// A capture from a file already open, such as standard input redirected from a file
    /// (`pcapstat analyze - < f`): memory-mapped as by [`Capture::open_with`] when `mmap`
    /// allows it and it is a plain regular file not yet read from; otherwise (a pipe, a
    /// terminal, a compressed or partly read file) read as a stream from where it is, as
    /// [`Capture::from_reader`] reads.
    ///
    /// # Errors
    /// As [`Capture::open_with`].
    pub fn from_file(file: File, mmap: MmapChoice) -> Result<Capture, CaptureError> {
        Single::from_file(file, None, mmap).map(Capture::one)
    }

    /// Reads a capture from a stream (for example standard input), decompressing gzip or zstd when
    /// the first bytes say so. Memory use is bounded by the largest block, not the stream's size.
    ///
    /// # Errors
    /// As [`Capture::open`].
    pub fn from_reader(reader: impl Read + Send + 'static) -> Result<Capture, CaptureError> {
        Single::from_reader(reader).map(Capture::one)
    }

    /// Reads a capture held in memory (plain, gzip or zstd).
    ///
    /// # Errors
    /// As [`Capture::open`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Capture, CaptureError> {
        Single::from_bytes(bytes).map(Capture::one)
    }

    /// Several captures of one capture point read as one timeline (tcpdump `-C`/`-G` rotation,
    /// files of one capture split by `editcap`): the frames of all inputs in timestamp order,
    /// as `mergecap` (without `-a`) orders them. `inputs` are (name, capture) pairs; the name
    /// is used in damage reports and [`Capture::inputs`]. Inputs that are themselves merges
    /// are flattened.
    ///
    /// The rule:
    /// - Each input is read in its own order. Of the next unread frame of every input, the one
    ///   with the earliest timestamp comes next; a tie goes to the input given first. So the
    ///   frames of one input keep their order even where its own timestamps go backwards.
    /// - The frames are numbered anew: [`Frame::index`] counts the merged timeline from 0.
    /// - Each frame keeps its link type. Its [`Frame::interface`] is renumbered, so that
    ///   interfaces of different inputs (or pcapng sections) never share a number: one number
    ///   per (input, section, interface id), in the order first met ([`Capture::interfaces`]).
    /// - A Decryption Secrets Block comes out ([`Capture::next_item`]) as soon as its input is
    ///   read past the frame before it: after that frame, before the input's next one.
    /// - Damage ends its own input only (the frames before it are read); the others go on.
    ///   [`Capture::damage`] is the first damage met, naming its input.
    /// - Memory: one read window per input (a map, or a bounded buffer), nothing more. The
    ///   frames do not share one buffer, so the pipeline copies them (no
    ///   [`Capture::shared_bytes`]).
    ///
    /// ```
    /// use pcapstat_core::Capture;
    /// let lab = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab");
    /// let a = Capture::open(format!("{lab}/f_refused_syndrop/capture.pcap"))?;
    /// let b = Capture::open(format!("{lab}/e_dns/capture.pcap"))?;
    /// let mut merged = Capture::merge(vec![("a".into(), a), ("b".into(), b)])?;
    /// let (mut last, mut frames) = (i64::MIN, 0);
    /// while let Some(frame) = merged.next_frame()? {
    ///     assert_eq!(frame.index, frames);
    ///     assert!(frame.ts_ns >= last); // both files are in time order
    ///     (last, frames) = (frame.ts_ns, frames + 1);
    /// }
    /// assert_eq!(merged.inputs().len(), 2);
    /// # Ok::<(), pcapstat_core::CaptureError>(())
    /// ```
    ///
    /// # Errors
    /// [`CaptureError::NoInput`] when `inputs` is empty.
    pub fn merge(inputs: Vec<(String, Capture)>) -> Result<Capture, CaptureError> {
        let mut singles = Vec::with_capacity(inputs.len());
        for (name, capture) in inputs {
            match capture.inner {
                Inner::One(one) => singles.push((name, one)),
                Inner::Merged(m) => singles.extend(m.into_inputs()),
            }
        }
        if singles.is_empty() {
            return Err(CaptureError::NoInput);
        }
        Ok(Capture {
            inner: Inner::Merged(Box::new(merge::Merge::new(singles))),
        })
    }

    /// Opens capture files ([`Capture::open_with`]) and merges them ([`Capture::merge`]), each
    /// named by its path.
    ///
    /// # Errors
    /// [`CaptureError::Input`] naming the first file that cannot be opened, with its error;
    /// [`CaptureError::NoInput`] when `paths` is empty.
    pub fn open_merged<P: AsRef<Path>>(
        paths: &[P],
        mmap: MmapChoice,
    ) -> Result<Capture, CaptureError> {
        let mut inputs = Vec::with_capacity(paths.len());
        for path in paths {
            let name = path.as_ref().display().to_string();
            match Capture::open_with(path, mmap) {
                Ok(capture) => inputs.push((name, capture)),
                Err(e) => {
                    return Err(CaptureError::Input {
                        file: name,
                        source: Box::new(e),
                    })
                }
            }
        }
        Capture::merge(inputs)
    }

    /// The Decryption Secrets Blocks (pcapng block type 0x0000000A) of the capture, in file
    /// order, read ahead of the frames (call it before the first [`Capture::next_frame`]). The
    /// analysis does not use it: it takes each DSB at its place, in the same pass as the frames
    /// ([`Capture::next_item`]). This look-ahead is for callers who want them first:
    ///
    /// * a capture held whole (memory-mapped file or bytes): every DSB of the file, by a pass
    ///   over the block headers only;
    /// * streamed input (standard input, gzip, zstd): the DSBs before the first packet block
    ///   (where `editcap --inject-secrets` puts them), by keeping the leading blocks in the read
    ///   buffer (at most `MAX_BLOCK_LEN` bytes of them); later ones are not seen. `None` when
    ///   frames were already read from the stream.
    ///
    /// The scan stops at the first block whose length is not sane, without error: the reading
    /// proper reports damage as before (a decompression error met while looking ahead is given
    /// again to it). Classic pcap files have none (`Some(vec![])`). At most
    /// `MAX_SECRETS_BYTES` of secrets are returned.
    ///
    /// For a merge: the DSBs of each input in turn (`None` when one of them says `None`).
    pub fn decryption_secrets(&mut self) -> Option<Vec<DecryptionSecrets>> {
        match &mut self.inner {
            Inner::One(one) => one.decryption_secrets(),
            Inner::Merged(m) => m.decryption_secrets(),
        }
    }

    /// The container format.
    /// For a merge: the first input's ([`Capture::inputs`] has each one's).
    pub fn format(&self) -> CaptureFormat {
        match &self.inner {
            Inner::One(one) => one.format(),
            Inner::Merged(m) => m.first().format(),
        }
    }

    /// The compression detected around the capture.
    /// For a merge: the first input's.
    pub fn compression(&self) -> Compression {
        match &self.inner {
            Inner::One(one) => one.compression(),
            Inner::Merged(m) => m.first().compression(),
        }
    }

    /// Interfaces described so far (for pcapng, the current section's).
    /// For a merge: the interfaces that carried the frames read so far, numbered in the order
    /// they were first met, as [`Frame::interface`] of a merge counts them.
    pub fn interfaces(&self) -> &[Interface] {
        match &self.inner {
            Inner::One(one) => one.interfaces(),
            Inner::Merged(m) => m.interfaces(),
        }
    }

    /// Number of pcapng sections seen so far (0 for legacy pcap).
    /// For a merge: of all inputs.
    pub fn sections(&self) -> u64 {
        match &self.inner {
            Inner::One(one) => one.sections(),
            Inner::Merged(m) => m.sections(),
        }
    }

    /// The whole capture's bytes when it is held in memory (mapped or owned): frames and their
    /// payloads borrow from them, so the pipeline hands workers offsets instead of copies.
    /// A merge has none (its frames come from several buffers): the pipeline copies them.
    pub(crate) fn shared_bytes(&self) -> Option<SharedBytes> {
        match &self.inner {
            Inner::One(one) => one.shared_bytes(),
            Inner::Merged(_) => None,
        }
    }

    /// A single stream's buffer (its window lies in it; frames read from it borrow from it)
    /// and the capture's offset of its first byte. The pipeline's chunks hold it (a clone)
    /// instead of copying their frames; while one does, the stream reads on into another
    /// buffer. `None` for a capture held in memory ([`Capture::shared_bytes`]) or a merge.
    pub(crate) fn stream_buffer(&self) -> Option<(&Arc<Vec<u8>>, u64)> {
        match &self.inner {
            Inner::One(one) => match &one.source {
                Source::Stream { buf, base, .. } => Some((buf, *base)),
                Source::Whole { .. } => None,
            },
            Inner::Merged(_) => None,
        }
    }

    /// Number of frames delivered so far.
    pub fn frames_read(&self) -> u64 {
        match &self.inner {
            Inner::One(one) => one.frames_read(),
            Inner::Merged(m) => m.frames_read(),
        }
    }

    /// Bytes of the (uncompressed) capture consumed so far.
    /// For a merge: the sum over its inputs.
    pub fn offset(&self) -> u64 {
        match &self.inner {
            Inner::One(one) => one.offset(),
            Inner::Merged(m) => m.offset(),
        }
    }

    /// The damage that ended reading, if any (known once `next_frame` returned `Ok(None)`).
    /// For a merge: the first damage met (its [`Damaged::file`] names the input); damage ends
    /// only the input it is in ([`Capture::inputs`] has each input's).
    pub fn damage(&self) -> Option<&Damaged> {
        match &self.inner {
            Inner::One(one) => one.damage(),
            Inner::Merged(m) => m.damage(),
        }
    }

    /// The inputs of a merge ([`Capture::merge`]), each with what was read of it so far; empty
    /// for a single capture.
    pub fn inputs(&self) -> Vec<InputSummary> {
        match &self.inner {
            Inner::One(_) => Vec::new(),
            Inner::Merged(m) => m.inputs(),
        }
    }

    /// The next frame, `Ok(None)` at the end of the data or at damage (see [`Capture::damage`]).
    ///
    /// # Errors
    /// [`CaptureError::Io`] when reading fails for a reason other than the data itself.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        Ok(match self.next(false)? {
            Some(CaptureItem::Frame(frame)) => Some(frame),
            Some(CaptureItem::Secrets(_)) | None => None,
        })
    }

    /// The next frame or Decryption Secrets Block, in file order; `Ok(None)` at the end of the
    /// data or at damage (see [`Capture::damage`]). This is how secrets embedded in a pcapng
    /// file are read in the same pass as the frames: a DSB applies to the frames after it, as
    /// the pcapng specification places it and as Wireshark reads it. At most
    /// [`MAX_SECRETS_BYTES`] of secrets are returned (later DSBs are skipped); a DSB whose
    /// secrets length exceeds its block is skipped.
    ///
    /// ```
    /// use pcapstat_core::{Capture, CaptureItem};
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab/d_tls_resumption/capture-with-keys.pcapng");
    /// let mut capture = Capture::open(path)?;
    /// let (mut frames, mut dsbs) = (0, 0);
    /// while let Some(item) = capture.next_item()? {
    ///     match item {
    ///         CaptureItem::Frame(_) => frames += 1,
    ///         CaptureItem::Secrets(s) => {
    ///             assert_eq!(frames, 0, "editcap --inject-secrets puts it first");
    ///             assert_eq!(s.secrets_type, 0x544c_534b);
    ///             dsbs += 1;
    ///         }
    ///     }
    /// }
    /// assert_eq!((frames, dsbs), (196, 1));
    /// # Ok::<(), pcapstat_core::CaptureError>(())
    /// ```
    ///
    /// # Errors
    /// As [`Capture::next_frame`].
    pub fn next_item(&mut self) -> Result<Option<CaptureItem<'_>>, CaptureError> {
        self.next(true)
    }

    /// Hands the next frames to `each`, in file order, while it returns `true`: the frames
    /// [`Capture::next_frame`] would return, numbered the same, read in a tight loop, in place:
    /// in a capture held whole in memory (mapped or bytes), or in a stream's window (the bytes
    /// read so far, [`Capture::stream_buffer`]). It reads the common records only (see
    /// `Single::frames_in_place`) and stops before any other and before a record the window
    /// cuts, which the caller reads with [`Capture::next_item`] before calling this again.
    /// `None` (nothing read) for a merge.
    pub(crate) fn frames_in_place<F: FnMut(Frame<'_>) -> bool>(
        &mut self,
        each: F,
    ) -> Option<InPlace> {
        self.frames_in_place_with(None, each)
    }

    /// [`Capture::frames_in_place`], taking the records of `prescans` (regions another thread
    /// walked, [`Walker::prescan`]) as they are from the first of them the reader stands at,
    /// instead of reading their headers again: the same frames, as each record's successor
    /// depends only on its place and the capture's bytes.
    pub(crate) fn frames_in_place_with<F: FnMut(Frame<'_>) -> bool>(
        &mut self,
        prescans: Option<&mut Prescans>,
        each: F,
    ) -> Option<InPlace> {
        match &mut self.inner {
            Inner::One(one) => one.frames_in_place(prescans, each),
            Inner::Merged(_) => None,
        }
    }

    /// The records of `region` (walked ahead by [`Walker::prescan_with`]) read at once, when
    /// the reader stands exactly at its first one: the reader then stands after its last one,
    /// with the frames counted as if it had read them (a record's successor depends only on
    /// its place and the bytes, so from there they are the records it would read). The first
    /// one's frame number; `None` (nothing read) when the reader stands anywhere else, the
    /// region is empty, or the capture is not one held in memory, or is damaged.
    pub(crate) fn take_region(&mut self, region: &Prescan) -> Option<u64> {
        let Inner::One(one) = &mut self.inner else {
            return None;
        };
        let (Some(first), Some(last)) = (region.recs.first(), region.recs.last()) else {
            return None;
        };
        let Source::Whole { pos, .. } = &mut one.source else {
            return None;
        };
        if one.damage.is_some() || pos.saturating_add(one.pending) != first.at {
            return None;
        }
        *pos = last.end();
        one.pending = 0;
        let index = one.frames;
        one.frames += region.recs.len() as u64;
        one.last_ts_ns = last.ts_ns;
        Some(index)
    }

    /// Where the next record read in place starts in a capture held in memory (`None` for
    /// anything else).
    pub(crate) fn reading_at(&self) -> Option<usize> {
        match &self.inner {
            Inner::One(Single {
                source: Source::Whole { pos, .. },
                pending,
                ..
            }) => Some(pos.saturating_add(*pending)),
            _ => None,
        }
    }

    /// A [`Walker`] for this capture: a legacy pcap file (not the modified format) held in
    /// memory and not damaged so far; `None` for anything else.
    pub(crate) fn walker(&self) -> Option<Walker> {
        let Inner::One(one) = &self.inner else {
            return None;
        };
        match (&one.source, one.state, &one.damage) {
            (
                Source::Whole { .. },
                state @ State::Pcap {
                    modified: false,
                    max_caplen,
                    ..
                },
                None,
            ) => Some(Walker {
                state,
                iface: one.interfaces.first().copied()?,
                max_caplen,
            }),
            _ => None,
        }
    }

    fn next(&mut self, secrets: bool) -> Result<Option<CaptureItem<'_>>, CaptureError> {
        match &mut self.inner {
            Inner::One(one) => one.next(secrets),
            Inner::Merged(m) => m.next(secrets),
        }
    }
}

/// Where [`Capture::frames_in_place`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InPlace {
    /// The callback returned `false`.
    Stopped,
    /// The next record is for the general step (or the data ended, or is damaged).
    Other,
}

/// One capture file or stream being read, frame by frame (a [`Capture`] reads one of them, or
/// several merged).
struct Single {
    source: Source,
    format: CaptureFormat,
    compression: Compression,
    state: State,
    interfaces: Vec<Interface>,
    sections: u64,
    frames: u64,
    /// Bytes of the previous frame's block, consumed at the next call (the frame borrowed them).
    pending: usize,
    last_ts_ns: i64,
    damage: Option<Damaged>,
    /// The plain file being read through a buffer, for [`Capture::decryption_secrets`].
    path: Option<PathBuf>,
    /// Secrets bytes returned by [`Capture::next_item`] so far; past [`MAX_SECRETS_BYTES`] no
    /// more DSB is returned.
    secrets_bytes: usize,
}

impl fmt::Debug for Single {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Single")
            .field("format", &self.format)
            .field("compression", &self.compression)
            .field("interfaces", &self.interfaces)
            .field("frames", &self.frames)
            .field("damage", &self.damage)
            .finish_non_exhaustive()
    }
}

/// Whether `head` (a file's first bytes) starts like a capture pcapstat reads: pcap (any of
/// its magics, either byte order), pcapng (a section header block), or gzip or zstd (whose
/// content is checked when the file is opened).
pub fn looks_like_capture(head: &[u8]) -> bool {
    const PCAP: [u32; 6] = [
        0xa1b2_c3d4,
        0xa1b2_3c4d,
        0xa1b2_cd34,
        0xd4c3_b2a1,
        0x4d3c_b2a1,
        0x34cd_b2a1,
    ];
    if compression_of(head) != Compression::None {
        return true;
    }
    match Endian::Little.u32(head, 0) {
        Some(SHB_TYPE) => true,
        Some(m) => PCAP.contains(&m),
        None => false,
    }
}

/// The capture files of a directory (not of its subdirectories), for `pcapstat analyze DIR`:
/// every regular file whose first bytes look like a capture ([`looks_like_capture`]; key logs,
/// notes and the like are left out), in natural name order: `trace.pcap`, `trace.pcap1`, ...,
/// `trace.pcap10` (tcpdump `-C` rotation), and `-G` names by their time.
///
/// # Errors
/// The directory or one of its files cannot be read.
pub fn capture_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        // Regular files, also through symbolic links (a dangling link is no capture).
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let mut head = [0u8; 4];
        let n = read_up_to(&mut File::open(&path)?, &mut head)?;
        if looks_like_capture(&head[..n]) {
            files.push(path);
        }
    }
    files.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(files)
}

/// The name of a merge of `paths` ([`Capture::open_merged`]) where a name is needed (the
/// `capture` column, the report's `file`): the one path as given, or the first one and how
/// many more: `rot/trace.pcap0+2` for three files. (`pcapstat analyze --merge DIR` names the
/// merge by the directory instead.)
pub fn merged_name<P: AsRef<Path>>(paths: &[P]) -> String {
    match paths {
        [] => String::new(),
        [one] => one.as_ref().display().to_string(),
        [first, rest @ ..] => format!("{}+{}", first.as_ref().display(), rest.len()),
    }
}

/// Compares names with their runs of digits as numbers (`a2` < `a10`), the rest byte-wise.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn runs(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            let boundary =
                i == bytes.len() || bytes[i].is_ascii_digit() != bytes[i - 1].is_ascii_digit();
            if boundary {
                if let Some(run) = s.get(start..i) {
                    out.push((bytes[start].is_ascii_digit(), run));
                }
                start = i;
            }
        }
        out
    }
    let (ra, rb) = (runs(a), runs(b));
    for ((da, x), (db, y)) in ra.iter().zip(&rb) {
        let ord = if *da && *db {
            let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        } else {
            x.cmp(y)
        };
        if ord.is_ne() {
            return ord;
        }
    }
    ra.len().cmp(&rb.len()).then_with(|| a.cmp(b))
}

fn compression_of(magic: &[u8]) -> Compression {
    match magic {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        _ => Compression::None,
    }
}

impl Single {
    /// See [`Capture::open_with`].
    fn open_with(path: impl AsRef<Path>, mmap: MmapChoice) -> Result<Single, CaptureError> {
        let path = path.as_ref();
        Self::from_file(File::open(path)?, Some(path), mmap)
    }

    /// See [`Capture::from_file`]; `path` is the file's, when it was opened by name (for the
    /// secrets of a pcapng file read as a stream).
    fn from_file(
        mut file: File,
        path: Option<&Path>,
        mmap: MmapChoice,
    ) -> Result<Single, CaptureError> {
        // Mapped from its start only: a file already partly read (standard input after another
        // program) is read on from where it is.
        let at_start = file.stream_position().is_ok_and(|p| p == 0);
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut file, &mut magic)?;
        let compression = compression_of(&magic[..n]);
        let is_regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        if compression == Compression::None && is_regular && at_start && mmap.0 {
            // SAFETY: whoever made `mmap` with `MmapChoice::auto` promised that the file is not
            // modified or truncated while it is mapped (see there). The map is read-only and
            // private to this reader.
            #[allow(unsafe_code)]
            let map = unsafe { memmap2::Mmap::map(&file) };
            if let Ok(map) = map {
                return Self::from_source(
                    Source::Whole {
                        bytes: SharedBytes::new(Bytes::Map(map)),
                        pos: 0,
                        streamed: 0,
                    },
                    Compression::None,
                );
            }
        }
        let reader = io::Cursor::new(magic[..n].to_vec()).chain(file);
        let mut capture = Self::from_reader(reader)?;
        if compression == Compression::None && is_regular {
            capture.path = path.map(Path::to_path_buf);
        }
        Ok(capture)
    }

    /// See [`Capture::from_reader`].
    fn from_reader(reader: impl Read + Send + 'static) -> Result<Single, CaptureError> {
        let mut reader: Box<dyn Read + Send> = Box::new(reader);
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut reader, &mut magic)?;
        let head = io::Cursor::new(magic[..n].to_vec()).chain(reader);
        let compression = compression_of(&magic[..n]);
        let source = match compression {
            Compression::Gzip => stream(Box::new(flate2::read::MultiGzDecoder::new(head)), true),
            Compression::Zstd => stream(Box::new(zstd::stream::read::Decoder::new(head)?), true),
            Compression::None => stream(Box::new(head), false),
        };
        Self::from_source(source, compression)
    }

    /// See [`Capture::from_bytes`].
    fn from_bytes(bytes: Vec<u8>) -> Result<Single, CaptureError> {
        match compression_of(&bytes) {
            Compression::None => Self::from_source(
                Source::Whole {
                    bytes: SharedBytes::owned(bytes),
                    pos: 0,
                    streamed: 0,
                },
                Compression::None,
            ),
            _ => Self::from_reader(io::Cursor::new(bytes)),
        }
    }

    fn from_source(mut source: Source, compression: Compression) -> Result<Single, CaptureError> {
        let available = source.ensure(24).map_err(|e| match e {
            FillError::Io(e) => CaptureError::Io(e),
            FillError::Decompression(msg) => CaptureError::Damaged(Damaged {
                offset: 0,
                frame: 0,
                reason: Damage::Decompression(msg),
                file: None,
            }),
        })?;
        if available == 0 {
            return Err(CaptureError::Empty);
        }
        let head = source.window();
        let first_bytes = head.get(..head.len().min(8)).unwrap_or(&[]).to_vec();
        let magic_le = Endian::Little.u32(head, 0);
        let unknown = || CaptureError::UnknownFormat {
            first_bytes: first_bytes.clone(),
        };
        let magic = magic_le.ok_or_else(unknown)?;
        let (format, state) = match magic {
            SHB_TYPE => {
                // The byte order is read from the section header block itself, below. Four magic
                // bytes alone do not make a pcapng file: its byte-order magic must be valid too.
                let bom = head.get(8..12);
                if bom
                    .is_some_and(|b| b != [0x4D, 0x3C, 0x2B, 0x1A] && b != [0x1A, 0x2B, 0x3C, 0x4D])
                {
                    return Err(unknown());
                }
                let big_endian = bom == Some(&[0x1A, 0x2B, 0x3C, 0x4D]);
                (
                    CaptureFormat::PcapNg { big_endian },
                    State::PcapNg { endian: None },
                )
            }
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 | 0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1 => {
                let big_endian = matches!(magic, 0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1);
                let nanosecond = matches!(magic, 0xa1b2_3c4d | 0x4d3c_b2a1);
                let modified = matches!(magic, 0xa1b2_cd34 | 0x34cd_b2a1);
                let endian = if big_endian {
                    Endian::Big
                } else {
                    Endian::Little
                };
                if head.len() < 24 {
                    return Err(CaptureError::Damaged(Damaged {
                        offset: 0,
                        frame: 0,
                        reason: Damage::Truncated {
                            needed: 24,
                            available: head.len() as u64,
                        },
                        file: None,
                    }));
                }
                let snaplen = endian.u32(head, 16).unwrap_or(0);
                let network = endian.u32(head, 20).unwrap_or(0);
                // The FCS-length bits share the link-type field (pcap spec, LINKTYPE_ field layout).
                let linktype = LinkType(network & 0x0FFF_FFFF);
                let interface = Interface {
                    linktype,
                    snaplen,
                    units_per_sec: if nanosecond { 1_000_000_000 } else { 1_000_000 },
                    ts_offset_sec: 0,
                };
                let format = CaptureFormat::Pcap {
                    big_endian,
                    nanosecond,
                    modified,
                };
                let state = State::Pcap {
                    endian,
                    nanosecond,
                    modified,
                    // A record longer than the snap length the file declares is damage (the length
                    // field is corrupt); a file that declares no snap length gets Wireshark's limit.
                    max_caplen: if snaplen == 0 {
                        MAX_PACKET_LEN
                    } else {
                        snaplen.min(MAX_BLOCK_LEN as u32)
                    },
                };
                let mut capture = Single::new(source, format, compression, state);
                capture.interfaces.push(interface);
                capture.source.consume(24);
                return Ok(capture);
            }
            _ => return Err(unknown()),
        };
        Ok(Single::new(source, format, compression, state))
    }

    fn new(
        source: Source,
        format: CaptureFormat,
        compression: Compression,
        state: State,
    ) -> Single {
        Single {
            source,
            format,
            compression,
            state,
            interfaces: Vec::new(),
            sections: 0,
            frames: 0,
            pending: 0,
            last_ts_ns: 0,
            damage: None,
            path: None,
            secrets_bytes: 0,
        }
    }

    /// See [`Capture::decryption_secrets`].
    fn decryption_secrets(&mut self) -> Option<Vec<DecryptionSecrets>> {
        if !matches!(self.format, CaptureFormat::PcapNg { .. }) {
            return Some(Vec::new());
        }
        if let Source::Whole { bytes, .. } = &self.source {
            return Some(scan_secrets(bytes.as_slice(), false));
        }
        if let Some(path) = &self.path {
            return Some(scan_secrets(&file_secret_blocks(path), false));
        }
        if self.frames > 0 || self.pending > 0 || self.source.offset() != 0 {
            return None;
        }
        let (mut pos, mut endian) = (0usize, Endian::Little);
        loop {
            if !matches!(self.source.ensure(pos + 12), Ok(n) if n >= pos + 12) {
                break;
            }
            let window = self.source.window().get(pos..).unwrap_or_default();
            let Some((ty, len)) = block_head(window, &mut endian) else {
                break;
            };
            if matches!(ty, EPB_TYPE | SPB_TYPE | OPB_TYPE) || pos + len > MAX_BLOCK_LEN {
                break;
            }
            if !matches!(self.source.ensure(pos + len), Ok(n) if n >= pos + len) {
                break;
            }
            pos += len;
        }
        let leading = self.source.window().get(..pos).unwrap_or_default();
        Some(scan_secrets(leading, true))
    }

    /// See [`Capture::format`].
    fn format(&self) -> CaptureFormat {
        self.format
    }

    /// See [`Capture::compression`].
    fn compression(&self) -> Compression {
        self.compression
    }

    /// See [`Capture::interfaces`].
    fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// See [`Capture::sections`].
    fn sections(&self) -> u64 {
        self.sections
    }

    /// See [`Capture::shared_bytes`].
    fn shared_bytes(&self) -> Option<SharedBytes> {
        match &self.source {
            Source::Whole { bytes, .. } => Some(bytes.clone()),
            Source::Stream { .. } => None,
        }
    }

    /// See [`Capture::frames_read`].
    fn frames_read(&self) -> u64 {
        self.frames
    }

    /// See [`Capture::offset`].
    fn offset(&self) -> u64 {
        self.source.offset() + self.pending as u64
    }

    /// See [`Capture::damage`].
    fn damage(&self) -> Option<&Damaged> {
        self.damage.as_ref()
    }

    /// The next frame (or, when `secrets`, DSB): [`Capture::next_item`], [`Capture::next_frame`].
    fn next(&mut self, secrets: bool) -> Result<Option<CaptureItem<'_>>, CaptureError> {
        Ok(match self.advance(secrets)? {
            Some(Advanced::Frame(meta, data)) => Some(CaptureItem::Frame(self.frame(meta, data))),
            Some(Advanced::Secrets(s)) => Some(CaptureItem::Secrets(s)),
            None => None,
        })
    }

    /// See [`Capture::frames_in_place`]. Only the common records are read here: a legacy pcap
    /// record whose lengths are sound, and a pcapng Enhanced Packet Block without options of
    /// a known interface. Anything else (the first record, a new section, an interface,
    /// secrets, options, damage) is left to the general step ([`InPlace::Other`]), so that
    /// what it reports and how it numbers stays its own.
    fn frames_in_place<F: FnMut(Frame<'_>) -> bool>(
        &mut self,
        mut prescans: Option<&mut Prescans>,
        mut each: F,
    ) -> Option<InPlace> {
        if self.damage.is_some() {
            return Some(InPlace::Other);
        }
        let linktype = self.interfaces.first().map_or(LinkType(0), |i| i.linktype);
        let pending = std::mem::take(&mut self.pending);
        // The bytes read so far: the whole capture, or a stream's window up to its end (a
        // record cut by the window's end is left to the general step, which reads on).
        let (all, pos, mut streaming) = match &mut self.source {
            Source::Whole {
                bytes,
                pos,
                streamed,
            } => {
                *pos += pending;
                (bytes.as_slice(), pos, Some((&*bytes, streamed)))
            }
            Source::Stream {
                buf, start, end, ..
            } => {
                *start = (*start + pending).min(*end);
                (buf.get(..*end).unwrap_or_default(), start, None)
            }
        };
        loop {
            // Records another thread walked from where the reader stands (legacy pcap in
            // memory only: `Capture::walker`).
            if let Some(pre) = prescans
                .as_deref_mut()
                .filter(|_| streaming.is_some())
                .and_then(|p| p.at(*pos))
            {
                while let Some(rec) = pre.recs.get(pre.next) {
                    #[cfg(test)]
                    {
                        pre.taken += 1;
                    }
                    // The records were written by another core: asked for a few lines ahead.
                    prefetch_any(pre.recs.as_ptr().wrapping_add(pre.next + 16));
                    pre.next += 1;
                    let data = rec.at.saturating_add(16)..rec.end();
                    self.frames += 1;
                    self.last_ts_ns = rec.ts_ns;
                    *pos = rec.end();
                    let frame = Frame {
                        index: self.frames - 1,
                        ts_ns: rec.ts_ns,
                        linktype,
                        interface: 0,
                        data: all.get(data).unwrap_or_default(),
                        orig_len: rec.orig_len,
                    };
                    if !each(frame) {
                        return Some(InPlace::Stopped);
                    }
                }
                continue;
            }
            let rest = all.get(*pos..).unwrap_or_default();
            let Some((meta, data, len)) = common_record(&self.state, &self.interfaces, rest) else {
                return Some(InPlace::Other);
            };
            // As in `step_pcap`: the next record's header, known only now.
            if let Some(next) = rest.get(len..) {
                prefetch(next);
            }
            self.frames += 1;
            self.last_ts_ns = meta.ts_ns;
            *pos += len;
            if let Some((bytes, streamed)) = &mut streaming {
                bytes.stream(streamed, *pos);
            }
            let frame = Frame {
                index: self.frames - 1,
                ts_ns: meta.ts_ns,
                linktype: meta.linktype,
                interface: meta.interface,
                data: rest.get(data).unwrap_or_default(),
                orig_len: meta.orig_len,
            };
            if !each(frame) {
                return Some(InPlace::Stopped);
            }
        }
    }

    /// The frame `advance` found, borrowed from the window.
    fn frame(&self, meta: FrameMeta, data: std::ops::Range<usize>) -> Frame<'_> {
        Frame {
            index: self.frames - 1,
            ts_ns: meta.ts_ns,
            linktype: meta.linktype,
            interface: meta.interface,
            data: self.source.window().get(data).unwrap_or(&[]),
            orig_len: meta.orig_len,
        }
    }

    /// Reads up to the next frame (left in the window, consumed at the next call) or, when
    /// `secrets`, the next DSB within the secrets limit (copied out and consumed).
    fn advance(&mut self, secrets: bool) -> Result<Option<Advanced>, CaptureError> {
        self.source.consume(std::mem::take(&mut self.pending));
        if self.damage.is_some() {
            return Ok(None);
        }
        loop {
            let step = match self.step() {
                Ok(Some(step)) => step,
                Ok(None) => return Ok(None),
                Err(StepError::Io(e)) => return Err(CaptureError::Io(e)),
                Err(StepError::Damage(reason)) => {
                    self.damage = Some(Damaged {
                        offset: self.source.offset(),
                        frame: self.frames,
                        reason,
                        file: None,
                    });
                    return Ok(None);
                }
            };
            match step {
                Step::Skip(len) => self.source.consume(len),
                Step::Secrets {
                    secrets_type,
                    data,
                    len,
                } => {
                    let within = self.secrets_bytes.saturating_add(data.len()) <= MAX_SECRETS_BYTES;
                    let taken = (secrets && within).then(|| DecryptionSecrets {
                        secrets_type,
                        data: self.source.window().get(data).unwrap_or_default().to_vec(),
                    });
                    self.source.consume(len);
                    if let Some(s) = taken {
                        self.secrets_bytes += s.data.len();
                        return Ok(Some(Advanced::Secrets(s)));
                    } else if secrets {
                        // As the look-ahead stops at the limit: no later DSB either.
                        self.secrets_bytes = usize::MAX;
                    }
                }
                Step::Frame { meta, data, len } => {
                    self.pending = len;
                    self.frames += 1;
                    self.last_ts_ns = meta.ts_ns;
                    return Ok(Some(Advanced::Frame(meta, data)));
                }
            }
        }
    }

    /// Makes `need` bytes available or reports why not.
    fn need(&mut self, need: usize) -> Result<(), StepError> {
        let available = self.source.ensure(need).map_err(StepError::from)?;
        if available < need {
            return Err(StepError::Damage(Damage::Truncated {
                needed: need as u64,
                available: available as u64,
            }));
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<Step>, StepError> {
        match self.state {
            State::Pcap {
                endian,
                nanosecond,
                modified,
                max_caplen,
            } => self.step_pcap(endian, nanosecond, modified, max_caplen),
            State::PcapNg { endian } => self.step_pcapng(endian),
        }
    }

    fn step_pcap(
        &mut self,
        endian: Endian,
        nanosecond: bool,
        modified: bool,
        max_caplen: u32,
    ) -> Result<Option<Step>, StepError> {
        let header_len = if modified { 24 } else { 16 };
        if self.source.ensure(1).map_err(StepError::from)? == 0 {
            return Ok(None);
        }
        self.need(header_len)?;
        let w = self.source.window();
        let caplen = endian.u32(w, 8).unwrap_or(0);
        if caplen > max_caplen {
            return Err(StepError::Damage(Damage::CaplenTooLarge {
                caplen,
                max: max_caplen,
            }));
        }
        if caplen == 0 {
            // No captured byte at all: libpcap never writes such a record, so the length fields
            // are corrupt (often a run of zero bytes where records should be).
            return Err(StepError::Damage(Damage::ZeroLengthRecord));
        }
        let len = header_len + caplen as usize;
        self.need(len)?;
        let w = self.source.window();
        // The next record's header, whose place is known only now: its load overlaps with the
        // rest of this record's work instead of stalling the next step (records are read one
        // after the other, each header's address depends on the previous one's length).
        if let Some(next) = w.get(len..) {
            prefetch(next);
        }
        let block = if modified {
            parse_pcap_frame_modified(w)
        } else if endian == Endian::Big {
            parse_pcap_frame_be(w)
        } else {
            parse_pcap_frame(w)
        };
        let Ok((_, block)) = block else {
            return Err(StepError::Damage(Damage::Malformed {
                what: "pcap record",
            }));
        };
        let frac = i64::from(block.ts_usec);
        let ts_ns =
            i64::from(block.ts_sec) * 1_000_000_000 + if nanosecond { frac } else { frac * 1_000 };
        let linktype = self.interfaces.first().map_or(LinkType(0), |i| i.linktype);
        Ok(Some(Step::Frame {
            meta: FrameMeta {
                ts_ns,
                linktype,
                interface: 0,
                orig_len: block.origlen,
            },
            data: header_len..len,
            len,
        }))
    }

    fn step_pcapng(&mut self, endian: Option<Endian>) -> Result<Option<Step>, StepError> {
        if self.source.ensure(1).map_err(StepError::from)? == 0 {
            return Ok(None);
        }
        self.need(8)?;
        let w = self.source.window();
        let block_type_le = Endian::Little.u32(w, 0).unwrap_or(0);
        let endian = if block_type_le == SHB_TYPE {
            // A new section: its byte-order magic decides how to read everything in it.
            self.need(12)?;
            let w = self.source.window();
            match Endian::Little.u32(w, 8) {
                Some(BOM) => Endian::Little,
                Some(0x4D3C_2B1A) => Endian::Big,
                _ => return Err(StepError::Damage(Damage::BadSection)),
            }
        } else {
            endian.ok_or(StepError::Damage(Damage::BadSection))?
        };
        let w = self.source.window();
        let block_type = endian.u32(w, 0).unwrap_or(0);
        let block_len = endian.u32(w, 4).unwrap_or(0);
        if block_len < 12 {
            return Err(bad_len(block_len, "smaller than the 12-byte minimum"));
        }
        if block_len % 4 != 0 {
            return Err(bad_len(block_len, "not a multiple of 4"));
        }
        if block_len as usize > MAX_BLOCK_LEN {
            return Err(bad_len(block_len, "larger than the 16 MiB limit"));
        }
        let len = block_len as usize;
        self.need(len)?;
        let w = self.source.window();
        // The next block's header, as for pcap records.
        if let Some(next) = w.get(len..) {
            prefetch(next);
        }
        let trailing = endian.u32(w, len - 4).unwrap_or(0);
        if trailing != block_len {
            return Err(StepError::Damage(Damage::BlockLengthMismatch {
                first: block_len,
                second: trailing,
            }));
        }
        let Some(bytes) = w.get(..len) else {
            return Err(StepError::Damage(Damage::Malformed { what: "block" }));
        };
        match block_type {
            SHB_TYPE | IDB_TYPE | EPB_TYPE | SPB_TYPE => {}
            OPB_TYPE => return self.obsolete_packet(endian, bytes).map(Some),
            DSB_TYPE => {
                // Secrets type, secrets length, secrets (padded), options. A length past the
                // block is not a DSB to use: skipped, as the look-ahead does.
                let n = endian.u32(bytes, 12).map(|n| n as usize);
                return Ok(Some(match (endian.u32(bytes, 8), n) {
                    (Some(secrets_type), Some(n)) if n <= len.saturating_sub(20) => Step::Secrets {
                        secrets_type,
                        data: 16..16 + n,
                        len,
                    },
                    _ => Step::Skip(len),
                }));
            }
            // Interface statistics, name resolution, decryption secrets, custom and unknown
            // blocks carry no frame: skipped by their (checked) length.
            _ => return Ok(Some(Step::Skip(len))),
        }
        let parsed = match endian {
            Endian::Little => parse_block_le(bytes),
            Endian::Big => parse_block_be(bytes),
        };
        let block = match parsed {
            Ok((_, block)) => block,
            Err(_) => {
                return Err(StepError::Damage(Damage::Malformed {
                    what: block_name(block_type),
                }))
            }
        };
        match block {
            Block::SectionHeader(shb) => {
                if shb.major_version != 1 {
                    return Err(StepError::Damage(Damage::UnsupportedVersion {
                        major: shb.major_version,
                        minor: shb.minor_version,
                    }));
                }
                self.state = State::PcapNg {
                    endian: Some(endian),
                };
                self.sections += 1;
                self.interfaces.clear();
                Ok(Some(Step::Skip(len)))
            }
            Block::InterfaceDescription(idb) => {
                self.interfaces.push(interface_of(&idb)?);
                Ok(Some(Step::Skip(len)))
            }
            Block::EnhancedPacket(epb) => {
                let (meta, data) = self.enhanced_packet(&epb)?;
                Ok(Some(Step::Frame { meta, data, len }))
            }
            Block::SimplePacket(spb) => {
                let iface = self.interface(0)?;
                // A simple packet block has no captured-length field: the captured bytes are the
                // wire length cut by the snap length (and by the block body, which has padding).
                let mut caplen = (spb.origlen as usize).min(spb.data.len());
                if iface.snaplen > 0 {
                    caplen = caplen.min(iface.snaplen as usize);
                }
                Ok(Some(Step::Frame {
                    meta: FrameMeta {
                        // It has no timestamp either: it inherits the previous frame's, so capture
                        // time never goes backwards because of it.
                        ts_ns: self.last_ts_ns,
                        linktype: iface.linktype,
                        interface: 0,
                        orig_len: spb.origlen,
                    },
                    data: 12..12 + caplen,
                    len,
                }))
            }
            _ => Ok(Some(Step::Skip(len))),
        }
    }

    fn interface(&self, id: u32) -> Result<Interface, StepError> {
        self.interfaces
            .get(id as usize)
            .copied()
            .ok_or(StepError::Damage(Damage::UnknownInterface { id }))
    }

    fn enhanced_packet(
        &self,
        epb: &EnhancedPacketBlock<'_>,
    ) -> Result<(FrameMeta, std::ops::Range<usize>), StepError> {
        let iface = self.interface(epb.if_id)?;
        let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
        let caplen = epb.caplen as usize;
        if caplen > epb.data.len() {
            return Err(StepError::Damage(Damage::Malformed {
                what: "enhanced packet block",
            }));
        }
        Ok((
            FrameMeta {
                ts_ns: to_ns(ts, iface),
                linktype: iface.linktype,
                interface: epb.if_id,
                orig_len: epb.origlen,
            },
            28..28 + caplen,
        ))
    }

    /// The obsolete Packet Block (type 2), which pcap-parser does not decode: interface id (u16),
    /// drops (u16), timestamp high/low, captured length, wire length, data.
    fn obsolete_packet(&self, endian: Endian, bytes: &[u8]) -> Result<Step, StepError> {
        let malformed = || {
            StepError::Damage(Damage::Malformed {
                what: "packet block",
            })
        };
        let field = |at| endian.u32(bytes, at).ok_or_else(malformed);
        let if_id = endian.u16(bytes, 8).ok_or_else(malformed)?;
        let ts = (u64::from(field(12)?) << 32) | u64::from(field(16)?);
        let caplen = field(20)? as usize;
        let orig_len = field(24)?;
        if 28 + caplen > bytes.len().saturating_sub(4) {
            return Err(malformed());
        }
        let iface = self.interface(u32::from(if_id))?;
        Ok(Step::Frame {
            meta: FrameMeta {
                ts_ns: to_ns(ts, iface),
                linktype: iface.linktype,
                interface: u32::from(if_id),
                orig_len,
            },
            data: 28..28 + caplen,
            len: bytes.len(),
        })
    }
}

fn block_name(block_type: u32) -> &'static str {
    match block_type {
        SHB_TYPE => "section header block",
        IDB_TYPE => "interface description block",
        EPB_TYPE => "enhanced packet block",
        SPB_TYPE => "simple packet block",
        _ => "block",
    }
}

fn bad_len(len: u32, why: &'static str) -> StepError {
    StepError::Damage(Damage::BadBlockLength {
        len: u64::from(len),
        why,
    })
}

fn interface_of(idb: &InterfaceDescriptionBlock<'_>) -> Result<Interface, StepError> {
    Ok(Interface {
        linktype: LinkType(u32::from(idb.linktype.0 as u16)),
        snaplen: idb.snaplen,
        units_per_sec: units_per_sec(idb.if_tsresol).ok_or(StepError::Damage(
            Damage::Malformed {
                what: "interface description block (if_tsresol)",
            },
        ))?,
        ts_offset_sec: idb.ts_offset(),
    })
}

/// Timestamp units per second from `if_tsresol`: 10^r, or 2^(r & 0x7f) when the top bit is set.
/// (pcap-parser 0.17's `build_ts_resolution` rejects every power of 2 because it compares the byte
/// with the top bit still set against 63, so pcapstat decodes the byte itself.)
fn units_per_sec(tsresol: u8) -> Option<u64> {
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(u32::from(tsresol))
    } else {
        1u64.checked_shl(u32::from(tsresol & 0x7f))
            .filter(|_| tsresol & 0x7f < 64)
    }
}

/// One legacy pcap record found by [`Walker::prescan`].
#[derive(Debug, Clone, Copy)]
struct Rec {
    /// Offset of its header in the capture.
    at: usize,
    caplen: u32,
    orig_len: u32,
    ts_ns: i64,
}

impl Rec {
    /// Offset of the next record.
    fn end(&self) -> usize {
        self.at
            .saturating_add(16)
            .saturating_add(self.caplen as usize)
    }
}

/// The records of one region of a capture in memory, walked by a thread other than the
/// reader ([`Walker::prescan`]), in order.
#[derive(Debug, Default)]
pub(crate) struct Prescan {
    recs: Vec<Rec>,
    /// The first one the reader has not taken.
    next: usize,
    /// Records the reader took from it (the tests' proof that regions are read from).
    #[cfg(test)]
    taken: u64,
}

impl Prescan {
    /// Offset of the record after the last one (where the reader stands after taking them).
    pub(crate) fn end(&self) -> usize {
        self.recs.last().map_or(0, Rec::end)
    }

    /// Offset of the first record (0 when there is none).
    pub(crate) fn start(&self) -> usize {
        self.recs.first().map_or(0, |r| r.at)
    }

    /// How many records it holds.
    pub(crate) fn len(&self) -> usize {
        self.recs.len()
    }

    /// The `i`-th record's frame: where its bytes start in the capture, how many were
    /// captured, its original length and its time (`None` past the last).
    #[inline]
    pub(crate) fn frame_at(&self, i: usize) -> Option<(usize, u32, u32, i64)> {
        let r = self.recs.get(i)?;
        Some((r.at.saturating_add(16), r.caplen, r.orig_len, r.ts_ns))
    }
}

/// The regions walked ahead of the reader and not yet passed by it, in the order of their
/// offsets.
#[derive(Debug, Default)]
pub(crate) struct Prescans {
    regions: std::collections::VecDeque<Prescan>,
    /// Records the reader took from the regions it has passed.
    #[cfg(test)]
    taken: u64,
}

impl Prescans {
    /// Adds a walked region (any order; an empty one is dropped).
    pub(crate) fn add(&mut self, p: Prescan) {
        if p.recs.is_empty() {
            return;
        }
        let at = self.regions.partition_point(|q| q.start() < p.start());
        self.regions.insert(at, p);
    }

    /// Records the reader took from the regions so far (the tests' proof that the regions are
    /// read from).
    #[cfg(test)]
    pub(crate) fn taken(&self) -> u64 {
        self.taken + self.regions.iter().map(|p| p.taken).sum::<u64>()
    }

    /// The region holding a record that starts at `pos`, its next record that one; the
    /// regions the reader has passed are dropped.
    fn at(&mut self, pos: usize) -> Option<&mut Prescan> {
        while self.regions.front().is_some_and(|p| p.end() <= pos) {
            let _passed = self.regions.pop_front();
            #[cfg(test)]
            {
                self.taken += _passed.map_or(0, |p| p.taken);
            }
        }
        let front = self.regions.front_mut()?;
        let rest = front.recs.get(front.next..)?;
        if rest.first()?.at > pos {
            // The reader has not reached the region (the usual case while it walks itself).
            return None;
        }
        let i = rest.partition_point(|r| r.at < pos);
        if rest.get(i)?.at != pos {
            return None;
        }
        front.next += i;
        Some(front)
    }
}

/// Walks regions of a legacy pcap capture held in memory on another thread than the reader,
/// ahead of it, the way [`Single::frames_in_place`] does ([`Capture::walker`]).
#[derive(Clone, Copy)]
pub(crate) struct Walker {
    state: State,
    iface: Interface,
    max_caplen: u32,
}

/// Records that must follow one another from an offset for [`Walker::prescan`] to start
/// there.
const CHAIN: usize = 8;

impl Walker {
    /// The link type of every frame it walks (a legacy pcap file's one interface's).
    pub(crate) fn linktype(&self) -> LinkType {
        self.iface.linktype
    }

    /// The common records from the first record boundary at or after `from` to the first
    /// record that starts at or after `to` (excluded), or to the first record of any other
    /// kind (or the end of the bytes). The boundary is not known: it is the first offset from
    /// which [`CHAIN`] common records follow one another, each with a fraction of a second
    /// below one second, a captured length within its original length, and timestamps within
    /// an hour of each other. An offset inside a frame's bytes that happens to pass is harmless:
    /// the reader takes records only from one that starts where it stands
    /// ([`Capture::frames_in_place_with`]).
    #[cfg(test)]
    pub(crate) fn prescan(&self, bytes: &SharedBytes, from: usize, to: usize) -> Prescan {
        self.prescan_with(bytes, from, to, usize::MAX, |_| {})
    }

    /// [`Walker::prescan`], at most `most` records, handing `each` every record's frame as it
    /// is walked (its index the record's place in the region: the region's frame numbers are
    /// not known yet).
    pub(crate) fn prescan_with(
        &self,
        bytes: &SharedBytes,
        from: usize,
        to: usize,
        most: usize,
        mut each: impl FnMut(Frame<'_>),
    ) -> Prescan {
        let all = bytes.as_slice();
        let iface = std::slice::from_ref(&self.iface);
        let last = from
            .saturating_add(16)
            .saturating_add(self.max_caplen as usize)
            .min(to)
            .min(all.len());
        let Some(mut at) = (from..last).find(|&p| self.chain_from(all, p)) else {
            return Prescan::default();
        };
        let mut recs = Vec::with_capacity((to - from.min(to)) / 256);
        let mut streamed = at;
        while at < to && recs.len() < most {
            let Some((meta, _, len)) =
                common_record(&self.state, iface, all.get(at..).unwrap_or_default())
            else {
                break;
            };
            recs.push(Rec {
                at,
                caplen: (len - 16) as u32,
                orig_len: meta.orig_len,
                ts_ns: meta.ts_ns,
            });
            each(Frame {
                index: (recs.len() - 1) as u64,
                ts_ns: meta.ts_ns,
                linktype: meta.linktype,
                interface: 0,
                data: all
                    .get(at.saturating_add(16)..at.saturating_add(len))
                    .unwrap_or_default(),
                orig_len: meta.orig_len,
            });
            at += len;
            bytes.stream(&mut streamed, at);
        }
        Prescan {
            recs,
            next: 0,
            #[cfg(test)]
            taken: 0,
        }
    }

    /// Whether [`CHAIN`] plausible common records follow one another from `at`.
    fn chain_from(&self, all: &[u8], mut at: usize) -> bool {
        let State::Pcap {
            endian, nanosecond, ..
        } = self.state
        else {
            return false;
        };
        let iface = std::slice::from_ref(&self.iface);
        let second: u32 = if nanosecond { 1_000_000_000 } else { 1_000_000 };
        let mut prev: Option<i64> = None;
        for _ in 0..CHAIN {
            let rest = all.get(at..).unwrap_or_default();
            let Some((meta, _, len)) = common_record(&self.state, iface, rest) else {
                return false;
            };
            let frac = endian.u32(rest, 4).unwrap_or(u32::MAX);
            let caplen = (len - 16) as u32;
            if frac >= second
                || caplen > meta.orig_len
                || prev.is_some_and(|p| p.abs_diff(meta.ts_ns) > 3_600_000_000_000)
            {
                return false;
            }
            prev = Some(meta.ts_ns);
            at += len;
        }
        true
    }
}

/// A common record at the start of `rest` ([`Single::frames_in_place`]): a legacy pcap record
/// with sound lengths, or a pcapng Enhanced Packet Block of this section's byte order, whole,
/// without options, of a known interface. Its frame's metadata, the data's place in `rest`
/// and the record's length; `None` for anything else (left to the general step).
fn common_record(
    state: &State,
    interfaces: &[Interface],
    rest: &[u8],
) -> Option<(FrameMeta, std::ops::Range<usize>, usize)> {
    match *state {
        State::Pcap {
            endian,
            nanosecond,
            modified: false,
            max_caplen,
        } => {
            let caplen = endian.u32(rest, 8).filter(|_| rest.len() >= 16)?;
            let len = 16 + caplen as usize;
            if caplen == 0 || caplen > max_caplen || rest.len() < len {
                return None;
            }
            let field = |at| endian.u32(rest, at).unwrap_or(0);
            let frac = i64::from(field(4));
            let meta = FrameMeta {
                ts_ns: i64::from(field(0)) * 1_000_000_000
                    + if nanosecond { frac } else { frac * 1_000 },
                linktype: interfaces.first().map_or(LinkType(0), |i| i.linktype),
                interface: 0,
                orig_len: field(12),
            };
            Some((meta, 16..len, len))
        }
        State::PcapNg {
            endian: Some(endian),
        } => {
            let field = |at| endian.u32(rest, at);
            // Its length is the 32 bytes around the data and the padded data.
            let (Some(EPB_TYPE), Some(block_len), Some(if_id), Some(caplen)) =
                (field(0), field(4), field(8), field(20))
            else {
                return None;
            };
            let len = block_len as usize;
            if caplen >= u32::MAX - 4
                || u64::from(block_len) != 32 + u64::from(caplen.next_multiple_of(4))
                || len > MAX_BLOCK_LEN
                || field(len.saturating_sub(4)) != Some(block_len)
            {
                return None;
            }
            let iface = interfaces.get(if_id as usize).copied()?;
            let ts = (u64::from(field(12)?) << 32) | u64::from(field(16)?);
            let meta = FrameMeta {
                ts_ns: to_ns(ts, iface),
                linktype: iface.linktype,
                interface: if_id,
                orig_len: field(24)?,
            };
            Some((meta, 28..28 + caplen as usize, len))
        }
        _ => None,
    }
}

/// Converts a raw pcapng timestamp to nanoseconds since the epoch, exactly (integer arithmetic).
fn to_ns(ts: u64, iface: Interface) -> i64 {
    // The common resolutions (µs, ns, ms) divide a second's nanoseconds: a multiplication in
    // 64 bits, unless it overflows (then the general 128-bit form, which clamps).
    let units_per_sec = iface.units_per_sec.max(1);
    if 1_000_000_000 % units_per_sec == 0 {
        let fast = i64::try_from(ts)
            .ok()
            .and_then(|t| t.checked_mul((1_000_000_000 / units_per_sec) as i64))
            .and_then(|ns| ns.checked_add(iface.ts_offset_sec.checked_mul(1_000_000_000)?));
        if let Some(ns) = fast {
            return ns;
        }
    }
    let units = i128::from(units_per_sec);
    let ns =
        i128::from(ts) * 1_000_000_000 / units + i128::from(iface.ts_offset_sec) * 1_000_000_000;
    ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

enum StepError {
    Io(io::Error),
    Damage(Damage),
}

impl From<FillError> for StepError {
    fn from(e: FillError) -> Self {
        match e {
            FillError::Io(e) => StepError::Io(e),
            FillError::Decompression(msg) => StepError::Damage(Damage::Decompression(msg)),
        }
    }
}

fn stream(reader: Box<dyn Read + Send>, compressed: bool) -> Source {
    Source::Stream {
        reader,
        buf: Arc::new(Vec::new()),
        retired: Vec::new(),
        start: 0,
        end: 0,
        eof: false,
        base: 0,
        compressed,
        failed: None,
    }
}

/// Reads until `buf` is full or the stream ends; returns the count read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_file_is_mapped_from_its_start_and_read_on_from_elsewhere() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/stream/connections.pcap"
        );
        let frames = |mut c: Capture| {
            let mut n = 0;
            while c.next_frame().unwrap().is_some() {
                n += 1;
            }
            n
        };
        let expected = frames(Capture::open(path).unwrap());
        // SAFETY: the bundled capture is not modified while the tests run.
        #[allow(unsafe_code)]
        let mmap = unsafe { MmapChoice::auto() };
        let open = Capture::from_file(File::open(path).unwrap(), mmap).unwrap();
        assert!(open.shared_bytes().is_some(), "mapped");
        assert_eq!(frames(open), expected);
        let read = Capture::from_file(File::open(path).unwrap(), MmapChoice::never()).unwrap();
        assert!(
            read.shared_bytes().is_none(),
            "read when mapping is not allowed"
        );
        assert_eq!(frames(read), expected);
        // Past its file header (another program read it): read on from there, not mapped from
        // the start, so not a capture.
        let mut partly = File::open(path).unwrap();
        partly.seek(io::SeekFrom::Start(24)).unwrap();
        assert!(Capture::from_file(partly, mmap).is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pipe_is_widened_and_a_file_left_alone() {
        use std::os::fd::AsRawFd;
        let (reader, _writer) = std::io::pipe().unwrap();
        // SAFETY: F_GETPIPE_SZ reads a pipe's capacity; the descriptor is open.
        #[allow(unsafe_code)]
        let size = || unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_GETPIPE_SZ) };
        // 64 KiB on x86-64 Linux (16 pages); more where pages are larger.
        let before = size();
        assert!(before > 0, "a pipe has a buffer");
        widen_pipe(&reader);
        assert!(size() >= before.max(256 << 10), "{} bytes", size());
        // Already wide: left as it is, never made smaller.
        let wide = size();
        widen_pipe(&reader);
        assert_eq!(size(), wide);
        let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        widen_pipe(&file);
    }

    #[test]
    fn streaming_asks_for_each_line_once_and_stops_at_the_end() {
        let bytes = SharedBytes::owned(vec![0; 3 * PREFETCH_AHEAD]);
        let mut streamed = 0;
        bytes.stream(&mut streamed, 0);
        assert_eq!(streamed, PREFETCH_AHEAD);
        // Within what it has asked for: nothing more.
        bytes.stream(&mut streamed, 100);
        assert_eq!(streamed, PREFETCH_AHEAD + 128);
        // A jump (a long record) starts again at the new position.
        bytes.stream(&mut streamed, 2 * PREFETCH_AHEAD + 1);
        assert_eq!(
            streamed,
            3 * PREFETCH_AHEAD + 1,
            "the last line asked for ends past the end"
        );
        bytes.stream(&mut streamed, usize::MAX);
        assert_eq!(streamed, usize::MAX);
    }

    use crate::fuzzing::Pieces;

    /// `both_ways_from` with the in-place loop over the bytes in memory, then over a stream
    /// of them read in pieces (whose window cuts records anywhere): the two must agree.
    fn both_ways(bytes: &[u8], per: usize) -> Option<[String; 2]> {
        let memory = both_ways_from(bytes, per, Capture::from_bytes(bytes.to_vec()).ok()?)?;
        let pieces = Pieces::new(bytes.to_vec(), 997);
        let stream = both_ways_from(bytes, per, Capture::from_reader(pieces).ok()?)?;
        assert_eq!(
            memory[1], stream[1],
            "in place in memory and in a stream's window"
        );
        Some(memory)
    }

    /// The frames of `bytes` as `next_item` gives them, and as `fast` does with
    /// `frames_in_place` (taking `per` frames per call, the other records with `next_item`, as
    /// the pipeline's scan does), each with the damage, offset and frame count at the end.
    fn both_ways_from(bytes: &[u8], per: usize, mut fast: Capture) -> Option<[String; 2]> {
        let mut general = Capture::from_bytes(bytes.to_vec()).ok()?;
        let mut one = String::new();
        while let Some(i) = general.next_item().ok()? {
            one += &show_item(i);
        }
        one += &show_end(&general);
        let (other, in_place) = read_in_place(&mut fast, per, None)?;
        // A capture of more than a few frames has most read in place.
        assert!(fast.frames_read() < 10 || in_place > 0);
        Some([one, other])
    }

    /// A frame as the tests above compare it.
    fn show_frame(f: &Frame<'_>) -> String {
        format!(
            "{} {} {:?} {} {} {:?}\n",
            f.index, f.ts_ns, f.linktype, f.interface, f.orig_len, f.data
        )
    }

    fn show_item(i: CaptureItem<'_>) -> String {
        match i {
            CaptureItem::Frame(f) => show_frame(&f),
            CaptureItem::Secrets(s) => format!("{s:?}\n"),
        }
    }

    /// The damage, offset and frame count at the end of a read.
    fn show_end(c: &Capture) -> String {
        format!("{:?} {} {}", c.damage(), c.offset(), c.frames_read())
    }

    /// `fast` read to its end as the pipeline's scan reads it: `per` frames a call in place
    /// (taking the records of `prescans` where it stands at one), the other records with
    /// `next_item`; shown, with the count of frames read in place.
    fn read_in_place(
        fast: &mut Capture,
        per: usize,
        mut prescans: Option<&mut Prescans>,
    ) -> Option<(String, usize)> {
        let mut out = String::new();
        let mut in_place = 0;
        loop {
            let mut taken = 0;
            let read = fast.frames_in_place_with(prescans.as_deref_mut(), |f| {
                out += &show_frame(&f);
                taken += 1;
                taken < per
            });
            in_place += taken;
            if read == Some(InPlace::Stopped) {
                continue;
            }
            match fast.next_item().ok()? {
                Some(i) => out += &show_item(i),
                None => break,
            }
        }
        out += &show_end(fast);
        Some((out, in_place))
    }

    /// The bundled captures (`testdata/`, every folder) whose extension is one of `exts`, in
    /// order.
    fn bundled(exts: &[&str]) -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let mut files = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path
                    .extension()
                    .is_some_and(|e| exts.iter().any(|x| e == *x))
                {
                    files.push(path);
                }
            }
        }
        files.sort();
        files
    }

    /// The frames of `bytes` read in place by a reader that takes the records of `prescans`
    /// (`per` frames a call, the other records by the general step), with the damage, offset
    /// and frame count at the end, as `both_ways_from` shows them; and how many records it took
    /// from the regions.
    fn with_prescans(bytes: &[u8], per: usize, prescans: &mut Prescans) -> (String, u64) {
        let mut fast = Capture::from_bytes(bytes.to_vec()).unwrap();
        let (out, _) = read_in_place(&mut fast, per, Some(&mut *prescans)).unwrap();
        (out, prescans.taken())
    }

    /// A capture a [`Walker`] walks: its frames as plain reading shows them, the walker, and
    /// its bytes shared; `None` when it is not one (or not readable both ways).
    fn walkable(bytes: &[u8]) -> Option<(String, Walker, SharedBytes)> {
        let [plain, _] = both_ways(bytes, usize::MAX)?;
        let walker = Capture::from_bytes(bytes.to_vec()).ok()?.walker()?;
        Some((
            plain,
            walker,
            SharedBytes(Arc::new(Bytes::Owned(bytes.to_vec()))),
        ))
    }

    /// Regions walked ahead of the reader ([`Walker::prescan`]) give the reader the frames it
    /// reads itself: every bundled legacy pcap file and cuts of two, regions of 1 byte to
    /// 64 KiB at two phases, added in any order, 1, 3 or all frames a call; most frames are
    /// taken from the regions (else the test would compare a reader with itself).
    #[test]
    fn prescanned_regions_give_the_frames_of_the_walk() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let mut inputs: Vec<(String, Vec<u8>)> = bundled(&["pcap"])
            .into_iter()
            .map(|path| (path.display().to_string(), std::fs::read(&path).unwrap()))
            .collect();
        for name in [
            "lab/f_refused_syndrop/capture.pcap",
            "broken/pcap-ns-be-trunc-packet-data.pcap",
        ] {
            let bytes = std::fs::read(root.join(name)).unwrap();
            for cut in (0..bytes.len()).step_by(331) {
                inputs.push((format!("{name} cut at {cut}"), bytes[..cut].to_vec()));
            }
        }
        inputs.sort();
        let (mut walked, mut compared, mut frames, mut taken_all) = (0, 0, 0u64, 0u64);
        for (name, bytes) in &inputs {
            let Some((plain, walker, shared)) = walkable(bytes) else {
                continue;
            };
            walked += 1;
            for region in [1, 64, 1000, 65536] {
                for phase in [0, region / 3] {
                    for per in [1, 3, usize::MAX] {
                        let mut prescans = Prescans::default();
                        let starts: Vec<usize> = (phase..bytes.len()).step_by(region).collect();
                        // Added in any order (threads finish them in any order).
                        for &from in starts.iter().rev() {
                            prescans.add(walker.prescan(&shared, from, from + region));
                        }
                        let (got, taken) = with_prescans(bytes, per, &mut prescans);
                        assert_eq!(
                            got, plain,
                            "{name}: regions of {region} from {phase}, {per} a call"
                        );
                        compared += 1;
                        if region == 65536 && phase == 0 && per == usize::MAX {
                            frames += plain.lines().count() as u64 - 1;
                            taken_all += taken;
                        }
                    }
                }
            }
        }
        assert!(walked >= 20, "only {walked} legacy pcap inputs");
        assert!(compared >= 20 * 24);
        // Regions of 64 KiB start at a record boundary most of the time: most frames are
        // taken from them.
        assert!(
            taken_all * 10 >= frames * 9,
            "{taken_all} of {frames} frames taken"
        );
    }

    /// A walked region taken at once where the reader stands at its first record
    /// ([`Capture::take_region`]) leaves the reader as reading its frames would (the next
    /// frames, their numbers, the offset and count at the end), and gives its first frame's
    /// number; anywhere else it is refused and changes nothing: every bundled legacy pcap,
    /// regions from each of its first 40 records, the reader standing at, before and after them.
    #[test]
    fn a_region_taken_at_once_reads_as_its_frames() {
        let (mut inputs, mut taken) = (0, 0);
        for path in bundled(&["pcap"]) {
            let bytes = std::fs::read(&path).unwrap();
            let Some((plain, walker, shared)) = walkable(&bytes) else {
                continue;
            };
            inputs += 1;
            let mut starts = Vec::new();
            let mut probe = Capture::from_bytes(bytes.clone()).unwrap();
            let own = probe.shared_bytes().unwrap();
            while let Some(f) = probe.next_frame().unwrap() {
                starts.push(own.offset_of(f.data).unwrap() - 16);
            }
            let plain_lines: Vec<&str> = plain.lines().collect();
            for (k, &start) in starts.iter().enumerate().take(40) {
                let region = walker.prescan(&shared, start, start + 3000);
                // No boundary found there (fewer than 8 plausible records follow).
                if region.len() == 0 || region.start() != start {
                    continue;
                }
                for stand in [k.saturating_sub(1), k, k + 1] {
                    let mut c = Capture::from_bytes(bytes.clone()).unwrap();
                    let mut out = String::new();
                    for _ in 0..stand {
                        match c.next_item().unwrap() {
                            Some(i) => out += &show_item(i),
                            None => break,
                        }
                    }
                    let before = show_end(&c);
                    match c.take_region(&region) {
                        Some(first) => {
                            assert_eq!((stand, first), (k, k as u64), "{}", path.display());
                            // The region's frames, as plain reading shows them.
                            for line in &plain_lines[k..k + region.len()] {
                                out += line;
                                out.push('\n');
                            }
                            taken += 1;
                        }
                        None => {
                            assert_ne!(stand, k, "{}", path.display());
                            assert_eq!(show_end(&c), before, "refused: nothing read");
                        }
                    }
                    while let Some(i) = c.next_item().unwrap() {
                        out += &show_item(i);
                    }
                    out += &show_end(&c);
                    assert_eq!(
                        out,
                        plain,
                        "{}: region at {k}, reader at {stand}",
                        path.display()
                    );
                }
            }
        }
        assert!(
            inputs >= 20 && taken >= 200,
            "{inputs} inputs, {taken} regions taken"
        );
    }

    /// A walk that starts inside a frame whose bytes look like records (a capture of a
    /// capture) finds those: the reader never stands at them, so none of them is taken, until
    /// the false records end where a true one starts; from there on the records are the true
    /// ones and are taken.
    #[test]
    fn a_walk_misled_by_records_inside_a_frame_gives_no_false_frame() {
        let record = |ts: u32, data: &[u8]| {
            let mut r = Vec::new();
            for v in [ts, 5, data.len() as u32, data.len() as u32] {
                r.extend_from_slice(&v.to_le_bytes());
            }
            r.extend_from_slice(data);
            r
        };
        // Twelve records of 20 bytes each inside the data of a frame of 240 or 241 bytes.
        let fake: Vec<u8> = (0..12)
            .flat_map(|i| record(1_700_000_000 + i, &[7; 4]))
            .collect();
        for extra in [0usize, 1] {
            let mut inner = fake.clone();
            inner.extend(std::iter::repeat_n(0u8, extra));
            let mut bytes = Vec::new();
            for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
                if v == 0x0004_0002 {
                    bytes.extend_from_slice(&2u16.to_le_bytes());
                    bytes.extend_from_slice(&4u16.to_le_bytes());
                } else {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
            }
            bytes.truncate(24);
            let first = bytes.len();
            bytes.extend(record(1_700_000_100, &inner));
            for i in 0..10 {
                bytes.extend(record(1_700_000_101 + i, &[9; 60]));
            }
            let walker = Capture::from_bytes(bytes.clone())
                .unwrap()
                .walker()
                .unwrap();
            let shared = SharedBytes(Arc::new(Bytes::Owned(bytes.clone())));
            // From inside the first frame's data: the false records are found first.
            let pre = walker.prescan(&shared, first + 16, bytes.len());
            assert_eq!(
                pre.start(),
                first + 16,
                "the walk starts at the false records"
            );
            let [plain, _] = both_ways(&bytes, usize::MAX).unwrap();
            assert_eq!(plain.lines().count(), 12, "11 frames and the end");
            let mut prescans = Prescans::default();
            prescans.add(pre);
            let (got, taken) = with_prescans(&bytes, usize::MAX, &mut prescans);
            assert_eq!(got, plain);
            // Without the extra byte the false records end where the second true one
            // starts: the ten true ones after it are taken from the walk.
            assert_eq!(taken, if extra == 0 { 10 } else { 0 }, "extra {extra}");
        }
    }

    /// The in-place loop reads what the general step reads, in memory and in a stream's window
    /// (read in pieces): the same frames, numbers, times,
    /// secrets, damage and offsets, for every bundled and broken pcap and pcapng file and
    /// every cut of three of them (both byte orders, µs and ns), whatever the number of frames
    /// taken per call.
    #[test]
    fn in_place_frames_equal_the_general_step() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let files = bundled(&["pcap", "pcapng"]);
        let mut compared = 0;
        for path in &files {
            let bytes = std::fs::read(path).unwrap();
            for per in [1, 3, usize::MAX] {
                if let Some([a, b]) = both_ways(&bytes, per) {
                    assert_eq!(a, b, "{} ({per} per call)", path.display());
                    compared += 1;
                }
            }
        }
        assert!(compared >= 3 * 40, "only {compared} captures compared");
        for name in [
            "lab/f_refused_syndrop/capture.pcap",
            "broken/pcap-ns-be-trunc-packet-data.pcap",
            "lab/d_tls_resumption/capture-with-keys.pcapng",
        ] {
            let bytes = std::fs::read(root.join(name)).unwrap();
            for cut in (0..bytes.len().min(3000)).chain((3000..bytes.len()).step_by(97)) {
                if let Some([a, b]) = both_ways(&bytes[..cut], 2) {
                    assert_eq!(a, b, "{name} cut at {cut}");
                }
            }
        }
        // A merge: left to the general step.
        let path = root.join("lab/f_refused_syndrop/capture.pcap");
        let mut capture = Capture::open_merged(&[&path, &path], MmapChoice::never()).unwrap();
        assert!(capture.frames_in_place(|_| true).is_none());
    }

    /// The 64-bit shortcut of `to_ns` gives the 128-bit form's value, clamping included.
    #[test]
    fn timestamps_in_64_bits_equal_the_general_form() {
        let general = |ts: u64, i: Interface| {
            let units = i128::from(i.units_per_sec.max(1));
            let ns = i128::from(ts) * 1_000_000_000 / units
                + i128::from(i.ts_offset_sec) * 1_000_000_000;
            ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
        };
        let stamps = [
            0,
            1,
            999_999,
            1_796_487_209_339_211,
            1_796_487_209_339_211_234,
            u64::from(u32::MAX) << 32,
            i64::MAX as u64 / 1000,
            i64::MAX as u64 / 1000 + 1,
            i64::MAX as u64,
            u64::MAX,
        ];
        for units_per_sec in [
            0,
            1,
            10,
            1000,
            1_000_000,
            1_000_000_000,
            1 << 20,
            7,
            10_000_000_000,
        ] {
            for ts_offset_sec in [0, 1, -1, 1_700_000_000, i64::MAX / 2, i64::MIN / 2] {
                let i = Interface {
                    linktype: LinkType(1),
                    snaplen: 0,
                    units_per_sec,
                    ts_offset_sec,
                };
                for ts in stamps {
                    assert_eq!(
                        to_ns(ts, i),
                        general(ts, i),
                        "{ts} {units_per_sec} {ts_offset_sec}"
                    );
                }
            }
        }
    }

    #[test]
    fn capture_files_of_a_directory_in_natural_order() {
        let dir = std::env::temp_dir().join(format!("pcapstat-capfiles-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let pcap = [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        for name in ["t.pcap", "t.pcap10", "t.pcap2", "t.pcap1", "sub/t.pcap3"] {
            std::fs::write(dir.join(name), pcap).unwrap();
        }
        std::fs::write(dir.join("a.pcapng"), [0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]).unwrap();
        std::fs::write(dir.join("z.gz"), [0x1f, 0x8b, 8, 0]).unwrap();
        std::fs::write(dir.join("keys.txt"), "CLIENT_RANDOM 00 00\n").unwrap();
        std::fs::write(dir.join("empty"), "").unwrap();
        let names: Vec<String> = capture_files(&dir)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            names,
            ["a.pcapng", "t.pcap", "t.pcap1", "t.pcap2", "t.pcap10", "z.gz"]
        );
        assert_eq!(
            natural_cmp("cap-2026-12-06_10.pcap", "cap-2026-12-06_9.pcap"),
            std::cmp::Ordering::Greater
        );
        assert_eq!(natural_cmp("a007", "a7"), std::cmp::Ordering::Less);
    }

    fn pcap_header(magic: u32, big: bool, snaplen: u32, linktype: u32) -> Vec<u8> {
        let mut v = Vec::new();
        let put32 = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let put16 = |v: &mut Vec<u8>, x: u16| {
            v.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        put32(&mut v, magic);
        put16(&mut v, 2);
        put16(&mut v, 4);
        put32(&mut v, 0);
        put32(&mut v, 0);
        put32(&mut v, snaplen);
        put32(&mut v, linktype);
        v
    }

    fn pcap_record(v: &mut Vec<u8>, big: bool, sec: u32, frac: u32, data: &[u8], orig: u32) {
        for x in [sec, frac, data.len() as u32, orig] {
            v.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        v.extend_from_slice(data);
    }

    /// A stream's buffers while chunks hold them (as the parallel scan's chunks do): every frame
    /// stays as it was read while the stream reads on into other buffers, and a buffer grown for
    /// a record larger than the usual one is not kept for reuse.
    #[test]
    fn held_stream_buffers_stay_whole_and_large_ones_are_not_kept() {
        use std::collections::VecDeque;
        let mut v = pcap_header(0xa1b2_c3d4, false, 4 << 20, 1);
        let mut want = Vec::new();
        for i in 0..60u32 {
            let len = if i % 7 == 6 {
                3 << 20
            } else {
                100 + i as usize * 997
            };
            let data: Vec<u8> = (0..len).map(|k| (k as u32 ^ i) as u8).collect();
            pcap_record(&mut v, false, i, 0, &data, len as u32);
            want.push(data);
        }
        let mut c = Capture::from_reader(Pieces::new(v, 997)).unwrap();
        let mut held: VecDeque<(usize, Arc<Vec<u8>>, usize, usize)> = VecDeque::new();
        let mut largest = 0;
        let check = |(i, b, at, len): (usize, Arc<Vec<u8>>, usize, usize)| {
            assert!(b.get(at..at + len) == Some(&want[i][..]), "frame {i}");
        };
        let mut i = 0;
        while let Some((addr, len)) = c
            .next_frame()
            .unwrap()
            .map(|f| (f.data.as_ptr() as usize, f.data.len()))
        {
            let (buf, _) = c.stream_buffer().unwrap();
            largest = largest.max(buf.len());
            held.push_back((i, Arc::clone(buf), addr - buf.as_ptr() as usize, len));
            i += 1;
            // Chunks in flight: the last eight frames' buffers; the older ones are done.
            while held.len() > 8 {
                check(held.pop_front().unwrap());
            }
            let Inner::One(one) = &c.inner else { panic!() };
            let Source::Stream { retired, .. } = &one.source else {
                panic!()
            };
            assert!(retired.len() <= RETIRED_BUFFERS);
            assert!(retired.iter().all(|b| b.len() <= STREAM_BUFFER));
        }
        assert_eq!(i, want.len());
        assert!(largest >= 3 << 20, "no buffer grew: {largest}");
        held.into_iter().for_each(check);
    }

    fn read_all(c: &mut Capture) -> Vec<(u64, i64, Vec<u8>, u32)> {
        let mut out = Vec::new();
        while let Some(f) = c.next_frame().unwrap() {
            out.push((f.index, f.ts_ns, f.data.to_vec(), f.orig_len));
        }
        out
    }

    #[test]
    fn pcap_all_four_magics() {
        for (big, ns) in [(false, false), (true, false), (false, true), (true, true)] {
            let magic = if ns { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
            let mut v = pcap_header(magic, big, 65535, 1);
            pcap_record(&mut v, big, 1_700_000_000, 123_456, b"abcd", 60);
            pcap_record(&mut v, big, 1_700_000_001, 7, b"ef", 2);
            let mut c = Capture::from_bytes(v).unwrap();
            assert_eq!(
                c.format(),
                CaptureFormat::Pcap {
                    big_endian: big,
                    nanosecond: ns,
                    modified: false
                }
            );
            let frames = read_all(&mut c);
            let mult = if ns { 1 } else { 1000 };
            assert_eq!(frames.len(), 2);
            assert_eq!(frames[0].1, 1_700_000_000_000_000_000 + 123_456 * mult);
            assert_eq!(frames[0].2, b"abcd");
            assert_eq!(frames[0].3, 60);
            assert_eq!(frames[1].1, 1_700_000_001_000_000_000 + 7 * mult);
            assert!(c.damage().is_none());
        }
    }

    #[test]
    fn pcap_truncated_record_is_damage_after_good_frames() {
        let mut v = pcap_header(0xa1b2_c3d4, false, 65535, 1);
        pcap_record(&mut v, false, 1, 0, b"abcd", 4);
        let second = v.len() as u64;
        pcap_record(&mut v, false, 2, 0, b"efghij", 6);
        v.truncate(v.len() - 3);
        {
            let mut c = Capture::from_bytes(v.clone()).unwrap();
            assert_eq!(read_all(&mut c).len(), 1);
            let d = c.damage().unwrap();
            assert_eq!(d.offset, second);
            assert_eq!(d.frame, 1);
            assert_eq!(
                d.reason,
                Damage::Truncated {
                    needed: 22,
                    available: 19
                }
            );
        }
        // The same through the streaming path.
        let mut c = Capture::from_reader(io::Cursor::new(v)).unwrap();
        assert_eq!(read_all(&mut c).len(), 1);
        assert_eq!(c.damage().unwrap().offset, second);
    }

    #[test]
    fn pcap_absurd_caplen_is_damage_without_allocation() {
        let mut v = pcap_header(0xa1b2_c3d4, false, 65535, 1);
        for x in [1u32, 0, 0x7FFF_FFFF, 0x7FFF_FFFF] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        let mut c = Capture::from_reader(io::Cursor::new(v)).unwrap();
        assert!(read_all(&mut c).is_empty());
        assert!(matches!(
            c.damage().unwrap().reason,
            Damage::CaplenTooLarge { .. }
        ));
    }

    #[test]
    fn not_captures_are_errors() {
        assert!(matches!(
            Capture::from_bytes(Vec::new()),
            Err(CaptureError::Empty)
        ));
        let err = Capture::from_bytes(b"hello world, not a capture".to_vec()).unwrap_err();
        assert!(err.to_string().contains("68 65 6c 6c"), "{err}");
        assert!(matches!(err, CaptureError::UnknownFormat { .. }));
    }

    fn ng_block(v: &mut Vec<u8>, big: bool, ty: u32, body: &[u8]) {
        let len = 12 + body.len() as u32;
        let p = |x: u32| {
            if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        };
        v.extend_from_slice(&p(ty));
        v.extend_from_slice(&p(len));
        v.extend_from_slice(body);
        v.extend_from_slice(&p(len));
    }

    fn shb_body(big: bool) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&if big {
            BOM.to_be_bytes()
        } else {
            BOM.to_le_bytes()
        });
        let p16 = |x: u16| {
            if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        };
        b.extend_from_slice(&p16(1));
        b.extend_from_slice(&p16(0));
        b.extend_from_slice(&(-1i64).to_le_bytes());
        b
    }

    fn idb_body(big: bool, linktype: u16, tsresol: Option<u8>, tsoffset: Option<i64>) -> Vec<u8> {
        let p16 = |x: u16| {
            if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        };
        let p32 = |x: u32| {
            if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        };
        let mut b = Vec::new();
        b.extend_from_slice(&p16(linktype));
        b.extend_from_slice(&p16(0));
        b.extend_from_slice(&p32(0));
        if let Some(r) = tsresol {
            b.extend_from_slice(&p16(9));
            b.extend_from_slice(&p16(1));
            b.extend_from_slice(&[r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            b.extend_from_slice(&p16(14));
            b.extend_from_slice(&p16(8));
            b.extend_from_slice(&if big {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            });
        }
        if tsresol.is_some() || tsoffset.is_some() {
            b.extend_from_slice(&[0, 0, 0, 0]);
        }
        b
    }

    fn epb_body(big: bool, if_id: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let p32 = |x: u32| {
            if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        };
        let mut b = Vec::new();
        for x in [
            if_id,
            (ts >> 32) as u32,
            ts as u32,
            data.len() as u32,
            data.len() as u32,
        ] {
            b.extend_from_slice(&p32(x));
        }
        b.extend_from_slice(data);
        while b.len() % 4 != 0 {
            b.push(0);
        }
        b
    }

    /// Every DSB of a plain file is found whether the file is read (a second pass over its
    /// block heads) or mapped, as in the same bytes held in memory: before and after the
    /// packets, in sections of either byte order.
    #[test]
    fn secrets_of_a_read_file_are_those_of_its_bytes() {
        let dsb = dsb_body;
        let mut v = Vec::new();
        for (big, text) in [(false, &b"first"[..]), (true, &b"second one"[..])] {
            ng_block(&mut v, big, SHB_TYPE, &shb_body(big));
            ng_block(&mut v, big, DSB_TYPE, &dsb(big, text));
            ng_block(&mut v, big, IDB_TYPE, &idb_body(big, 1, None, None));
            ng_block(&mut v, big, EPB_TYPE, &epb_body(big, 0, 1, b"abcd"));
            ng_block(&mut v, big, DSB_TYPE, &dsb(big, b"after"));
        }
        let want = Capture::from_bytes(v.clone())
            .unwrap()
            .decryption_secrets()
            .unwrap();
        assert_eq!(want.len(), 4);
        let path = std::env::temp_dir().join(format!("pcapstat-dsb-{}.pcapng", std::process::id()));
        std::fs::write(&path, &v).unwrap();
        // SAFETY: the file is this test's own; nothing writes it while it is mapped.
        #[allow(unsafe_code)]
        let mapped = unsafe { MmapChoice::auto() };
        for mmap in [MmapChoice::never(), mapped] {
            let mut c = Capture::open_with(&path, mmap).unwrap();
            assert_eq!(c.decryption_secrets().unwrap(), want, "{mmap:?}");
            assert_eq!(read_all(&mut c).len(), 2);
        }
        let _ = std::fs::remove_file(&path);
    }

    /// A reader that gives at most `sizes[i % len]` bytes per call (1-byte and odd-sized reads),
    /// counting every byte it gives.
    struct Chunked {
        data: Vec<u8>,
        pos: usize,
        sizes: Vec<usize>,
        call: usize,
        given: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Read for Chunked {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let size = self.sizes[self.call % self.sizes.len()];
            self.call += 1;
            let n = size.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            self.given
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            Ok(n)
        }
    }

    /// Every item of a capture, frames and DSBs, owned, with the damage.
    type Items = (
        Vec<(u64, i64, u32, Vec<u8>)>,
        Vec<(usize, DecryptionSecrets)>,
        Option<Damaged>,
    );

    fn items(c: &mut Capture) -> Items {
        let (mut frames, mut dsbs) = (Vec::new(), Vec::new());
        while let Some(item) = c.next_item().unwrap() {
            match item {
                CaptureItem::Frame(f) => {
                    frames.push((f.index, f.ts_ns, f.interface, f.data.to_vec()))
                }
                CaptureItem::Secrets(s) => dsbs.push((frames.len(), s)),
            }
        }
        (frames, dsbs, c.damage().cloned())
    }

    fn dsb_body(big: bool, text: &[u8]) -> Vec<u8> {
        let p = |x: u32| {
            if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        };
        let mut b = p(0x544c_534b).to_vec();
        b.extend_from_slice(&p(text.len() as u32));
        b.extend_from_slice(text);
        while b.len() % 4 != 0 {
            b.push(0);
        }
        b
    }

    /// A pcapng file of two sections (little- and big-endian) with DSBs before, between and
    /// after packets of a few sizes, one packet larger than a pipe's 64 KiB.
    fn pcapng_with_dsbs() -> Vec<u8> {
        let mut v = Vec::new();
        for big in [false, true] {
            ng_block(&mut v, big, SHB_TYPE, &shb_body(big));
            ng_block(
                &mut v,
                big,
                DSB_TYPE,
                &dsb_body(big, b"CLIENT_RANDOM first"),
            );
            ng_block(&mut v, big, IDB_TYPE, &idb_body(big, 1, None, None));
            for i in 0..40u32 {
                let data: Vec<u8> = (0..(i * 37 % 1500 + 1)).map(|b| b as u8).collect();
                ng_block(
                    &mut v,
                    big,
                    EPB_TYPE,
                    &epb_body(big, 0, u64::from(i), &data),
                );
                if i == 17 {
                    ng_block(&mut v, big, DSB_TYPE, &dsb_body(big, b"in the middle, odd"));
                    ng_block(&mut v, big, DSB_TYPE, &dsb_body(big, b"two in a row"));
                }
            }
            ng_block(
                &mut v,
                big,
                EPB_TYPE,
                &epb_body(big, 0, 99, &vec![7u8; 70_001]),
            );
            ng_block(&mut v, big, DSB_TYPE, &dsb_body(big, b"after the packets"));
        }
        v
    }

    /// Standard input and pipes give what they have, often a few bytes: a stream delivered in
    /// 1-byte and odd-sized reads gives the frames and DSBs (each at its place between the
    /// frames) of the whole file, pcap and pcapng, and is read once, to its last byte.
    #[test]
    fn tiny_reads_give_the_items_of_the_whole_file() {
        let mut pcap = pcap_header(0xa1b2_c3d4, false, 0, 1);
        for i in 0..50u32 {
            let data: Vec<u8> = (0..(i * 53 % 2000 + 1)).map(|b| (b * 3) as u8).collect();
            pcap_record(&mut pcap, false, i, i * 7, &data, data.len() as u32);
        }
        pcap_record(&mut pcap, false, 60, 0, &vec![1u8; 100_000], 100_000);
        let ng = pcapng_with_dsbs();
        for file in [pcap, ng] {
            let want = items(&mut Capture::from_bytes(file.clone()).unwrap());
            assert!(want.0.len() > 40 && want.2.is_none());
            for sizes in [vec![1], vec![3, 1, 7, 13], vec![4093], vec![65_536, 5]] {
                let given = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let reader = Chunked {
                    data: file.clone(),
                    pos: 0,
                    sizes: sizes.clone(),
                    call: 0,
                    given: given.clone(),
                };
                let mut c = Capture::from_reader(reader).unwrap();
                assert_eq!(items(&mut c), want, "reads of {sizes:?}");
                assert_eq!(c.offset(), file.len() as u64);
                // One pass: every byte was read once, the DSBs with the frames.
                assert_eq!(given.load(std::sync::atomic::Ordering::Relaxed), file.len());
            }
        }
        let (frames, dsbs, _) = items(&mut Capture::from_bytes(pcapng_with_dsbs()).unwrap());
        let at: Vec<(usize, &[u8])> = dsbs.iter().map(|(i, s)| (*i, &s.data[..])).collect();
        assert_eq!(
            at,
            [
                (0, &b"CLIENT_RANDOM first"[..]),
                (18, b"in the middle, odd"),
                (18, b"two in a row"),
                (41, b"after the packets"),
                (41, b"CLIENT_RANDOM first"),
                (59, b"in the middle, odd"),
                (59, b"two in a row"),
                (82, b"after the packets"),
            ]
        );
        assert_eq!(frames.len(), 82);
        assert!(dsbs.iter().all(|(_, s)| s.secrets_type == 0x544c_534b));
    }

    /// `next_item` gives the DSBs the look-ahead ([`Capture::decryption_secrets`]) finds, in the
    /// same order, and `next_frame` the same frames without them; a DSB whose secrets length
    /// exceeds its block is skipped by both.
    #[test]
    fn next_item_agrees_with_the_look_ahead() {
        let mut v = pcapng_with_dsbs();
        let mut bad = Vec::new();
        ng_block(&mut bad, false, SHB_TYPE, &shb_body(false));
        let mut body = dsb_body(false, b"abcd");
        body[4] = 200; // secrets length 200 in a block of 4
        ng_block(&mut bad, false, DSB_TYPE, &body);
        ng_block(&mut bad, false, DSB_TYPE, &dsb_body(false, b"good"));
        v.extend_from_slice(&bad);
        let ahead = Capture::from_bytes(v.clone())
            .unwrap()
            .decryption_secrets()
            .unwrap();
        let (frames, dsbs, damage) = items(&mut Capture::from_bytes(v.clone()).unwrap());
        assert!(damage.is_none());
        let dsbs: Vec<DecryptionSecrets> = dsbs.into_iter().map(|(_, s)| s).collect();
        assert_eq!(dsbs, ahead);
        assert_eq!(dsbs.last().map(|s| &s.data[..]), Some(&b"good"[..]));
        let mut c = Capture::from_bytes(v).unwrap();
        let only = read_all(&mut c);
        assert_eq!(only.len(), frames.len());
    }

    #[test]
    fn pcapng_sections_interfaces_resolutions() {
        let mut v = Vec::new();
        // Section 1, little-endian: µs default and 2^-20 resolution with an offset.
        ng_block(&mut v, false, SHB_TYPE, &shb_body(false));
        ng_block(&mut v, false, IDB_TYPE, &idb_body(false, 1, None, None));
        ng_block(
            &mut v,
            false,
            IDB_TYPE,
            &idb_body(false, 101, Some(0x80 | 20), Some(10)),
        );
        ng_block(
            &mut v,
            false,
            EPB_TYPE,
            &epb_body(false, 0, 1_500_000, b"abc"),
        );
        ng_block(&mut v, false, 0x0000_0005, &[0; 8]); // interface statistics: skipped
        ng_block(
            &mut v,
            false,
            EPB_TYPE,
            &epb_body(false, 1, 3 << 20, b"xyz12"),
        );
        // Section 2, big-endian: ns resolution.
        ng_block(&mut v, true, SHB_TYPE, &shb_body(true));
        ng_block(&mut v, true, IDB_TYPE, &idb_body(true, 113, Some(9), None));
        ng_block(&mut v, true, EPB_TYPE, &epb_body(true, 0, 42, b"q"));
        ng_block(&mut v, true, SPB_TYPE, &{
            let mut b = 2u32.to_be_bytes().to_vec();
            b.extend_from_slice(b"hi\0\0");
            b
        });
        let mut c = Capture::from_bytes(v).unwrap();
        assert_eq!(c.format(), CaptureFormat::PcapNg { big_endian: false });
        let mut got = Vec::new();
        while let Some(f) = c.next_frame().unwrap() {
            got.push((f.ts_ns, f.linktype.0, f.data.to_vec()));
        }
        assert!(c.damage().is_none(), "{:?}", c.damage());
        assert_eq!(
            got,
            vec![
                (1_500_000_000, 1, b"abc".to_vec()),
                (13_000_000_000, 101, b"xyz12".to_vec()),
                (42, 113, b"q".to_vec()),
                (42, 113, b"hi".to_vec()),
            ]
        );
        assert_eq!(c.sections(), 2);
    }

    #[test]
    fn pcapng_bad_block_lengths() {
        let base = {
            let mut v = Vec::new();
            ng_block(&mut v, false, SHB_TYPE, &shb_body(false));
            ng_block(&mut v, false, IDB_TYPE, &idb_body(false, 1, None, None));
            ng_block(&mut v, false, EPB_TYPE, &epb_body(false, 0, 1, b"abcd"));
            v
        };
        let good_len = base.len() as u64;
        for (len, expect) in [
            (8u32, "smaller"),
            (30, "multiple of 4"),
            (0xFFFF_FFF0, "16 MiB"),
            (64, "ends inside"),
        ] {
            let mut v = base.clone();
            v.extend_from_slice(&EPB_TYPE.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(&[0; 40]);
            let mut c = Capture::from_reader(io::Cursor::new(v)).unwrap();
            assert_eq!(read_all(&mut c).len(), 1);
            let d = c.damage().unwrap();
            assert_eq!(d.offset, good_len);
            assert_eq!(d.frame, 1);
            assert!(d.to_string().contains(expect), "{d}");
        }
    }

    #[test]
    fn compressed_streams_are_detected_by_magic() {
        use std::io::Write;
        let mut v = pcap_header(0xa1b2_c3d4, false, 65535, 1);
        pcap_record(&mut v, false, 5, 6, b"payload", 7);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&v).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&v[..], 3).unwrap();
        for (bytes, comp) in [(gz.clone(), Compression::Gzip), (zst, Compression::Zstd)] {
            let mut c = Capture::from_bytes(bytes).unwrap();
            assert_eq!(c.compression(), comp);
            assert_eq!(read_all(&mut c).len(), 1);
            assert!(c.damage().is_none());
        }
        // A gzip stream cut short: damage, not an I/O error and not a silent end.
        let cut = gz[..gz.len() - 10].to_vec();
        let mut c = Capture::from_bytes(cut).unwrap();
        let _ = read_all(&mut c);
        assert!(matches!(
            c.damage().map(|d| &d.reason),
            Some(Damage::Decompression(_)) | Some(Damage::Truncated { .. })
        ));
    }
}
