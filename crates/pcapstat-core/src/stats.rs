//! One tree of counters for an analysis: [`Stats`], with one merge and one visitor for all of
//! its parts, and the [`limits`](Stats::limits) view of the limits that were hit.
//!
//! Each counter struct (decoding, TCP, application layer, DNS, key log) is declared with the
//! crate's `counters!` macro, which generates its `merge` (sum; the maximum for a few
//! high-water marks) and its `counters` visitor: every counter with its dotted path
//! (`app.http_stats.heads_too_large`), the names docs/summary.md lists.

use std::collections::BTreeMap;

use crate::app::AppStats;
use crate::decode::{DecodeStats, Encapsulation};
use crate::proto::dns::DnsStats;
use crate::proto::quic::QuicStats;
use crate::proto::tls::KeyLogStats;
use crate::tcp::TcpStats;

/// A set of counters that adds another set of the same shape and lists its values.
pub trait Counters {
    /// Adds `other`'s counters to these.
    fn merge(&mut self, other: &Self);
    /// Calls `f` with every counter below `path` (dotted) and its value.
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, u64));
    /// Calls `f` with every counter below `path` that [`Counters::visit`] lists, mutably
    /// (map-like counters: the keys present).
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, &mut u64));
}

/// `path.field`, or `field` at the root.
pub(crate) fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

impl Counters for u64 {
    fn merge(&mut self, other: &Self) {
        *self += other;
    }
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, u64)) {
        f(path, *self);
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, &mut u64)) {
        f(path, self);
    }
}

/// Frames by link-type number (`path.<number>`).
impl Counters for BTreeMap<u32, u64> {
    fn merge(&mut self, other: &Self) {
        for (k, n) in other {
            *self.entry(*k).or_insert(0) += n;
        }
    }
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, u64)) {
        for (k, n) in self {
            f(&join(path, &k.to_string()), *n);
        }
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, &mut u64)) {
        for (k, n) in self {
            f(&join(path, &k.to_string()), n);
        }
    }
}

/// Frames by encapsulation (`path.<name>`), within
/// `MAX_ENCAPSULATION_KINDS` (32) keys.
impl Counters for BTreeMap<Encapsulation, u64> {
    fn merge(&mut self, other: &Self) {
        for (e, n) in other {
            crate::decode::add_encapsulation(self, *e, *n);
        }
    }
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, u64)) {
        for (e, n) in self {
            f(&join(path, &e.name()), *n);
        }
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, &mut u64)) {
        for (e, n) in self {
            f(&join(path, &e.name()), n);
        }
    }
}

/// Declares a struct of counters (every field `pub`) with its [`Counters`] implementation
/// and the inherent `merge` and `counters` methods. A field marked `[max]` merges as the
/// larger of the two values (a high-water mark); every other field merges by its own
/// [`Counters::merge`] (a sum for `u64`, field by field for nested counters).
macro_rules! counters {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident: $ty:ty $([$how:ident])?,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::stats::Counters for $name {
            fn merge(&mut self, other: &Self) {
                $( $crate::stats::counters!(@merge self.$field, other.$field $(, $how)?); )*
            }
            fn visit(&self, path: &str, f: &mut dyn FnMut(&str, u64)) {
                $(
                    $crate::stats::Counters::visit(
                        &self.$field,
                        &$crate::stats::join(path, stringify!($field)),
                        f,
                    );
                )*
            }
            fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, &mut u64)) {
                $(
                    $crate::stats::Counters::visit_mut(
                        &mut self.$field,
                        &$crate::stats::join(path, stringify!($field)),
                        f,
                    );
                )*
            }
        }

        impl $name {
            /// Adds the counters of `other` (another shard, connection or capture).
            pub fn merge(&mut self, other: &Self) {
                $crate::stats::Counters::merge(self, other);
            }

            /// Calls `f` with the dotted path and the value of every counter.
            pub fn counters(&self, f: &mut impl FnMut(&str, u64)) {
                $crate::stats::Counters::visit(self, "", f);
            }
        }
    };
    (@merge $a:expr, $b:expr) => {
        $crate::stats::Counters::merge(&mut $a, &$b)
    };
    (@merge $a:expr, $b:expr, max) => {
        $a = $a.max($b)
    };
}
pub(crate) use counters;

counters! {
    /// Every counter of one analysis, by layer. Nothing here is filtered: the counters describe
    /// the whole capture.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Stats {
        /// Frames by what the decoder found (also in `CaptureSummary::decode`).
        pub decode: DecodeStats,
        /// TCP tracking.
        pub tcp: TcpStats,
        /// Application parsers: TLS, decryption, HTTP/1.x, HTTP/2, DNS over TCP.
        pub app: AppStats,
        /// DNS matching.
        pub dns: DnsStats,
        /// The key log (all zero without one).
        pub keylog: KeyLogStats,
        /// QUIC (`proto::quic`).
        pub quic: QuicStats,
    }
}

/// A limit of pcapstat: a counter that is non-zero when the limit was hit (docs/limits.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Short name, e.g. `out-of-order buffer`.
    pub name: &'static str,
    /// Dotted path of the counter in [`Stats`].
    pub counter: &'static str,
    /// The configuration field (or constant) that sets it; no CLI flag sets a limit.
    pub setting: &'static str,
    /// What the counter counts when the limit is hit.
    pub meaning: &'static str,
}

/// A limit that was hit, with its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitHit {
    /// Which limit.
    pub limit: &'static Limit,
    /// Its counter's value (> 0).
    pub count: u64,
}

const fn limit(
    name: &'static str,
    counter: &'static str,
    setting: &'static str,
    meaning: &'static str,
) -> Limit {
    Limit {
        name,
        counter,
        setting,
        meaning,
    }
}

/// Every limit counter, in report order (docs/limits.md, "Limit counters", lists the same).
#[rustfmt::skip]
pub const LIMITS: &[Limit] = &[
    limit("fragment buffer", "decode.fragments_evicted", "DecodeLimits::max_fragment_datagrams, max_fragment_bytes",
        "incomplete IP datagrams dropped to stay within the fragment buffer"),
    limit("encapsulation depth", "decode.undecodable.too_deep", "DecodeLimits::max_depth",
        "frames with more nested encapsulations than followed"),
    limit("flow table", "tcp.evictions", "TcpConfig::max_connections",
        "connections finished early because the flow table was full"),
    limit("out-of-order buffer", "tcp.ooo_limit_hits", "TcpConfig::ooo_limit_bytes, ooo_total_limit_bytes",
        "times an out-of-order buffer overflowed and its holes were given up"),
    limit("application buffers", "tcp.app_total_limit_hits", "TcpConfig::app_total_limit_bytes",
        "connections whose unfinished application messages or waiting requests were given up to keep all connections' parsers within their total"),
    limit("RTT samples", "tcp.rtt_sample_limit_hits", "TcpConfig::rtt_sample_limit",
        "RTT samples not kept for the median"),
    limit("RTT unacknowledged segments", "tcp.unacked_limit_hits", "TcpConfig::unacked_limit, unacked_total_limit_bytes",
        "data segments not tracked for RTT"),
    limit("protocol probing buffer", "app.probe_limit_hits", "app::PROBE_LIMIT_BYTES",
        "connections whose protocol probing buffer was full"),
    limit("mid-stream probing", "app.midstream_probe_gave_up", "app::MIDSTREAM_PROBE_LIMIT_BYTES",
        "mid-stream connections given up without a message start"),
    limit("HTTP/1.x head", "app.http_stats.heads_too_large", "HttpConfig::max_head_bytes",
        "HTTP heads too large, dropped"),
    limit("HTTP/1.x pending requests", "app.http_stats.pending_dropped", "HttpConfig::max_pending",
        "HTTP requests given up while waiting for a response"),
    limit("HTTP/2 header block", "app.http2_stats.header_blocks_too_large", "Http2Config::max_header_block_bytes",
        "HTTP/2 header blocks too large to decode"),
    limit("HTTP/2 WebSockets kept", "app.http2_stats.websockets_dropped", "proto::websocket::MAX_STREAM_WEBSOCKETS",
        "WebSockets over HTTP/2 given no row: past the ones a connection keeps until it ends (or given up at the application total)"),
    limit("HTTP/2 open streams", "app.http2_stats.streams_over_limit", "Http2Config::max_open_streams",
        "HTTP/2 streams refused a row"),
    limit("HTTP/2 header list", "app.http2_stats.header_lists_truncated", "Http2Config::max_header_list_bytes, max_decoded_header_bytes",
        "HTTP/2 header blocks whose fields were read in part"),
    limit("HTTP/2 header budget", "app.http2_stats.header_budget_exhausted", "Http2Config::max_decoded_header_bytes",
        "HTTP/2 connections that used up their decoded header budget"),
    limit("HTTP/2 kept value", "app.http2_stats.values_truncated", "Http2Config::max_value_bytes",
        "HTTP/2 :method, :path or :authority values cut"),
    limit("HTTP/1.x kept headers", "app.http_stats.kept_headers_dropped", "HeaderLimits::max_fields, max_message_bytes",
        "HTTP/1.x header fields not kept for the HAR"),
    limit("HTTP/1.x kept header size", "app.http_stats.kept_headers_truncated", "HeaderLimits::max_name_bytes, max_value_bytes",
        "HTTP/1.x header fields (or reason phrases) kept cut for the HAR"),
    limit("HTTP/2 kept headers", "app.http2_stats.kept_headers_dropped", "HeaderLimits::max_fields, max_message_bytes",
        "HTTP/2 header fields not kept for the HAR"),
    limit("HTTP/2 kept header size", "app.http2_stats.kept_headers_truncated", "HeaderLimits::max_name_bytes, max_value_bytes",
        "HTTP/2 header fields kept cut for the HAR"),
    limit("TLS pending plaintext", "app.tls_decrypt.app_bytes_dropped", "proto::tls::MAX_PENDING_APP_DATA",
        "decrypted bytes dropped"),
    limit("WebSocket pending pings", "app.websocket.pings_forgotten", "proto::websocket::MAX_PENDING_PINGS",
        "WebSocket pings forgotten before their pong (no round trip)"),
    limit("WebSocket round trips kept", "app.websocket.rtt_samples_dropped", "proto::websocket::MAX_RTT_SAMPLES",
        "WebSocket ping round trips left out of the per-connection median"),
    limit("DNS pending queries", "dns.pending_evicted", "DnsConfig::max_pending",
        "DNS queries that stopped waiting for a response"),
    limit("DNS reordering", "dns.reorder_early", "DnsConfig::max_reorder",
        "DNS messages matched before their reordering window passed"),
    limit("DNS retry candidates", "dns.retry_candidates_evicted", "DnsConfig::max_pending",
        "DNS queries forgotten as retry candidates within the retry window"),
    limit("QUIC connections", "quic.evicted", "proto::quic::MAX_QUIC_CONNECTIONS",
        "QUIC connections finished early because the tracker was full"),
    limit("QUIC paths", "quic.paths_over_limit", "proto::quic::MAX_QUIC_PATHS",
        "new paths of a QUIC connection not followed (its datagrams on them are orphans)"),
    limit("QUIC CRYPTO reassembly", "quic.crypto_limit_hits", "proto::quic::MAX_CRYPTO_BUFFER, MAX_CRYPTO_STREAM",
        "QUIC connections whose handshake stream was not read further"),
    limit("HTTP/3 buffer", "quic.h3_buffer_limit", "proto::quic::MAX_H3_BUFFER, MAX_H3_BUFFER_TOTAL",
        "HTTP/3 streams not read further (bytes held out of order, HEADERS, blocked field sections) or QPACK tables stopped"),
    limit("HTTP/3 WebSockets kept", "quic.h3_websockets_dropped", "proto::websocket::MAX_STREAM_WEBSOCKETS",
        "WebSockets over HTTP/3 given no row: past the ones a connection keeps until it ends"),
    limit("HTTP/3 streams", "quic.h3_stream_limit", "proto::quic::MAX_H3_STREAMS",
        "QUIC connections whose HTTP/3 parsing stopped (too many open streams)"),
    limit("HTTP/3 field section", "quic.h3_field_section_too_large", "proto::quic::MAX_H3_FIELD_SECTION",
        "HTTP/3 HEADERS frames too large to decode"),
    limit("HTTP/3 kept headers", "quic.h3_kept_headers_dropped", "HeaderLimits::max_fields, max_message_bytes",
        "HTTP/3 header fields not kept for the HAR"),
    limit("HTTP/3 kept header size", "quic.h3_kept_headers_truncated", "HeaderLimits::max_name_bytes, max_value_bytes",
        "HTTP/3 header fields kept cut for the HAR"),
    limit("DNS lookups for the request join", "dns.lookups_forgotten", "DnsConfig::max_lookups",
        "answered DNS lookups forgotten by the request join"),
];

impl Stats {
    /// The value of the counter at `path` (`tcp.evictions`); `None` for no such counter.
    pub fn get(&self, path: &str) -> Option<u64> {
        let mut found = None;
        self.counters(&mut |p, v| {
            if p == path {
                found = Some(v);
            }
        });
        found
    }

    /// Sets the counter at `path` to `value` (to build counters by hand, e.g. in tests of what
    /// reads them); `false` when there is no such counter.
    pub fn set(&mut self, path: &str, value: u64) -> bool {
        let mut found = false;
        Counters::visit_mut(self, "", &mut |p, v| {
            if p == path {
                *v = value;
                found = true;
            }
        });
        found
    }

    /// Every limit of [`LIMITS`] that was hit (its counter is non-zero), in that order.
    pub fn limits(&self) -> Vec<LimitHit> {
        let mut values = BTreeMap::new();
        self.counters(&mut |p, v| {
            values.insert(p.to_string(), v);
        });
        LIMITS
            .iter()
            .filter_map(|limit| {
                let count = values.get(limit.counter).copied().unwrap_or(0);
                (count > 0).then_some(LimitHit { limit, count })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn paths() -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        Stats::default().counters(&mut |p, _| {
            out.insert(p.to_string());
        });
        out
    }

    /// Backticked first cells of the table rows between `start` and the next heading.
    fn doc_table(doc: &str, start: &str) -> BTreeSet<String> {
        let from = doc.find(start).map_or("", |i| &doc[i + start.len()..]);
        let section = from.split("\n#").next().unwrap_or("");
        section
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn summary_doc_lists_every_counter() {
        let doc = include_str!("../../../docs/summary.md");
        let documented = doc_table(doc, "## Counters (`stats`)");
        let code = paths();
        let missing: Vec<_> = code.difference(&documented).collect();
        let stale: Vec<_> = documented.difference(&code).collect();
        assert!(
            missing.is_empty(),
            "counters not in docs/summary.md: {missing:?}"
        );
        assert!(
            stale.is_empty(),
            "docs/summary.md names no such counter: {stale:?}"
        );
    }

    #[test]
    fn limits_doc_and_table_agree() {
        let doc = include_str!("../../../docs/limits.md");
        let documented = doc_table(doc, "## Limit counters");
        let table: BTreeSet<String> = LIMITS.iter().map(|l| l.counter.to_string()).collect();
        assert_eq!(documented, table);
        let code = paths();
        for l in LIMITS {
            assert!(code.contains(l.counter), "{} is not a counter", l.counter);
        }
    }

    #[test]
    fn the_limits_hit_are_listed_in_table_order() {
        assert!(Stats::default().limits().is_empty());
        let mut s = Stats::default();
        s.dns.reorder_early = 4;
        s.tcp.ooo_limit_hits = 1;
        s.decode.undecodable.add(crate::DecodeProblem::TooDeep);
        s.app.http2_stats.values_truncated = 2;
        let hits: Vec<_> = s
            .limits()
            .iter()
            .map(|h| (h.limit.counter, h.count))
            .collect();
        assert_eq!(
            hits,
            [
                ("decode.undecodable.too_deep", 1),
                ("tcp.ooo_limit_hits", 1),
                ("app.http2_stats.values_truncated", 2),
                ("dns.reorder_early", 4),
            ]
        );
    }

    #[test]
    fn merge_sums_nested_counters_and_keeps_high_water_marks() {
        let mut a = Stats::default();
        a.tcp.max_concurrent = 5;
        a.app.http2_stats.frames = 2;
        a.decode.unsupported_link_types.insert(7, 1);
        let mut b = a.clone();
        b.tcp.max_concurrent = 3;
        a.merge(&b);
        assert_eq!(a.tcp.max_concurrent, 5);
        assert_eq!(a.app.http2_stats.frames, 4);
        assert_eq!(a.get("decode.unsupported_link_types.7"), Some(2));
    }

    #[test]
    fn every_limit_counter_can_be_set_and_is_reported_alone() {
        for limit in LIMITS {
            let mut stats = Stats::default();
            assert!(stats.set(limit.counter, 7), "{}", limit.counter);
            assert_eq!(stats.get(limit.counter), Some(7));
            let hits = stats.limits();
            assert_eq!(hits.len(), 1, "{}", limit.counter);
            assert_eq!((hits[0].limit, hits[0].count), (limit, 7));
        }
        assert!(!Stats::default().set("tcp.no_such_counter", 1));
    }
}
