//! TCP option parsing (only what the handshake summary needs).

/// Options announced in one side's SYN (or SYN/ACK).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HandshakeOptions {
    /// Maximum segment size option (kind 2), if present.
    pub mss: Option<u16>,
    /// Window scale shift (kind 3), if present (values above 14 are kept as sent).
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4) present.
    pub sack_permitted: bool,
    /// Timestamps (kind 8) present.
    pub timestamps: bool,
}

impl HandshakeOptions {
    /// Parse raw option bytes laxly: stops at End-of-list or at the first malformed option,
    /// keeping what was parsed before it.
    pub fn parse(mut opts: &[u8]) -> HandshakeOptions {
        let mut out = HandshakeOptions::default();
        while let Some((&kind, rest)) = opts.split_first() {
            match kind {
                0 => break,
                1 => {
                    opts = rest;
                    continue;
                }
                _ => {}
            }
            let Some((&len, _)) = rest.split_first() else {
                break;
            };
            let len = usize::from(len);
            if len < 2 || len > opts.len() {
                break;
            }
            let body = opts.get(2..len).unwrap_or(&[]);
            match (kind, body) {
                (2, &[a, b]) => out.mss = Some(u16::from_be_bytes([a, b])),
                (3, &[s]) => out.window_scale = Some(s),
                (4, _) => out.sack_permitted = true,
                (8, _) if body.len() == 8 => out.timestamps = true,
                _ => {}
            }
            opts = opts.get(len..).unwrap_or(&[]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_syn_options() {
        // MSS 1460, SACK perm, TS, NOP, WS 7
        let o = [
            2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let h = HandshakeOptions::parse(&o);
        assert_eq!(h.mss, Some(1460));
        assert_eq!(h.window_scale, Some(7));
        assert!(h.sack_permitted && h.timestamps);
        // truncated option: keep what came before
        let h = HandshakeOptions::parse(&[2, 4, 5, 180, 3, 3]);
        assert_eq!(h.mss, Some(1460));
        assert_eq!(h.window_scale, None);
    }
}
