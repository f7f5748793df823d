//! DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766): each message is preceded by its length
//! as two big-endian bytes; a connection carries any number of messages in each direction.

use crate::tcp::{Direction, StreamSink};

/// One DNS message cut from a TCP stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsTcpMessage {
    /// Capture time of the segment that delivered the message's last byte.
    pub ts_ns: i64,
    /// Who sent it.
    pub dir: Direction,
    /// The message, without the length prefix.
    pub bytes: Vec<u8>,
}

/// Framing state of one direction. The buffer holds at most one message (≤ 65,535 bytes)
/// plus its prefix, so it is bounded by the format itself.
#[derive(Debug, Default)]
struct Framer {
    buf: Vec<u8>,
    /// Framing was lost (a gap): nothing more is cut from this direction.
    lost: bool,
}

/// Sans-IO framer of one DNS-over-TCP connection; feed it as a [`StreamSink`], take the
/// messages with [`take_messages`](DnsTcpParser::take_messages).
#[derive(Debug, Default)]
pub struct DnsTcpParser {
    dirs: [Framer; 2],
    out: Vec<DnsTcpMessage>,
    /// Bytes dropped because of gaps, and bytes of messages cut by the end of the stream.
    dropped_bytes: u64,
}

fn index(dir: Direction) -> usize {
    match dir {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // used by tests and fuzzing
impl DnsTcpParser {
    /// A framer for a new connection.
    pub fn new() -> Self {
        DnsTcpParser::default()
    }

    /// The messages completed so far, in stream order per direction (and in delivery order
    /// across directions).
    pub fn take_messages(&mut self) -> Vec<DnsTcpMessage> {
        std::mem::take(&mut self.out)
    }

    /// Bytes that could not be framed: after a gap (the length framing cannot be found again)
    /// or in a message cut by the end of its direction.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped_bytes
    }
}

impl StreamSink for DnsTcpParser {
    fn on_data(&mut self, ts_ns: i64, dir: Direction, bytes: &[u8]) {
        let f = &mut self.dirs[index(dir)];
        if f.lost {
            self.dropped_bytes += bytes.len() as u64;
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            // Fill the prefix, then the message; never buffer beyond one message.
            let want = match f.buf.get(..2) {
                Some(p) => 2 + usize::from(u16::from_be_bytes([p[0], p[1]])),
                None => 2,
            };
            let take = want.saturating_sub(f.buf.len()).min(rest.len());
            f.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if f.buf.len() >= 2 {
                let len = 2 + usize::from(u16::from_be_bytes([f.buf[0], f.buf[1]]));
                if f.buf.len() == len {
                    let msg = f.buf.split_off(2);
                    f.buf.clear();
                    self.out.push(DnsTcpMessage {
                        ts_ns,
                        dir,
                        bytes: msg,
                    });
                }
            }
        }
    }

    fn on_gap(&mut self, _ts_ns: i64, dir: Direction, len: u64) {
        let f = &mut self.dirs[index(dir)];
        self.dropped_bytes += len + f.buf.len() as u64;
        f.buf.clear();
        f.lost = true;
    }

    fn held(&self) -> usize {
        self.dirs.iter().map(|f| f.buf.capacity()).sum()
    }

    fn shed(&mut self) {
        for f in &mut self.dirs {
            if !f.buf.is_empty() {
                self.dropped_bytes += f.buf.len() as u64;
                f.lost = true;
            }
            f.buf = Vec::new();
        }
    }

    fn on_close(&mut self, _ts_ns: i64, dir: Direction) {
        let f = &mut self.dirs[index(dir)];
        self.dropped_bytes += f.buf.len() as u64;
        f.buf.clear();
        f.lost = true;
    }
}
