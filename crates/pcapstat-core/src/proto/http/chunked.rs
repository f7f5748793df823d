//! Incremental `Transfer-Encoding: chunked` framing: fed any split of the body bytes, it finds
//! where the body ends and counts the de-chunked (payload) bytes.

/// Where the decoder is in the chunk grammar (RFC 9112 §7.1), tolerant of bare `\n` line ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Reading the hex chunk size; `ext` once a `;` extension (or whitespace) started.
    Size { value: u64, digits: u8, ext: bool },
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// After chunk data: expecting CRLF.
    DataEnd,
    /// Trailer section after the last chunk; `line` = bytes on the current line.
    Trailer { line: usize },
    /// The final CRLF was read: the body ended.
    Done,
}

/// Result of feeding bytes to a [`Chunked`] decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// All bytes were consumed; the body goes on.
    More,
    /// The body ended after this many of the bytes fed.
    Done(usize),
    /// The framing is broken (bad size line, missing CRLF, oversized trailer).
    Error,
}

/// Chunked body decoder.
#[derive(Debug, Clone)]
pub(crate) struct Chunked {
    state: State,
    /// De-chunked payload bytes seen so far.
    pub(crate) payload: u64,
    max_line: usize,
}

impl Chunked {
    /// A decoder at the start of a chunked body; `max_line` bounds trailer lines.
    pub(crate) fn new(max_line: usize) -> Self {
        Chunked {
            state: State::Size {
                value: 0,
                digits: 0,
                ext: false,
            },
            payload: 0,
            max_line,
        }
    }

    /// Feeds body bytes. Never panics, whatever the bytes.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Step {
        let mut i = 0;
        while i < bytes.len() {
            match &mut self.state {
                State::Data(left) => {
                    let avail = (bytes.len() - i) as u64;
                    let take = (*left).min(avail);
                    *left -= take;
                    self.payload = self.payload.saturating_add(take);
                    // `take <= avail`, which fits in usize.
                    i += usize::try_from(take).unwrap_or(bytes.len() - i);
                    if *left == 0 {
                        self.state = State::DataEnd;
                    }
                    continue;
                }
                State::Size { value, digits, ext } => {
                    let b = bytes[i];
                    match b {
                        b'\n' => {
                            if *digits == 0 {
                                return Step::Error;
                            }
                            self.state = if *value == 0 {
                                State::Trailer { line: 0 }
                            } else {
                                State::Data(*value)
                            };
                        }
                        b'\r' => {}
                        b';' | b' ' | b'\t' => *ext = true,
                        _ if *ext => {}
                        _ => {
                            let Some(d) = (b as char).to_digit(16) else {
                                return Step::Error;
                            };
                            if *digits >= 16 {
                                return Step::Error;
                            }
                            *value = (*value << 4) | u64::from(d);
                            *digits += 1;
                        }
                    }
                }
                State::DataEnd => match bytes[i] {
                    b'\r' => {}
                    b'\n' => {
                        self.state = State::Size {
                            value: 0,
                            digits: 0,
                            ext: false,
                        }
                    }
                    _ => return Step::Error,
                },
                State::Trailer { line } => match bytes[i] {
                    b'\r' => {}
                    b'\n' => {
                        if *line == 0 {
                            self.state = State::Done;
                            return Step::Done(i + 1);
                        }
                        *line = 0;
                    }
                    _ => {
                        *line += 1;
                        if *line > self.max_line {
                            return Step::Error;
                        }
                    }
                },
                State::Done => return Step::Done(i),
            }
            i += 1;
        }
        if self.state == State::Done {
            Step::Done(bytes.len())
        } else {
            Step::More
        }
    }
}
