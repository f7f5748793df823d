//! Several captures analysed in one go, whose tables are the concatenation of theirs.

use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;

use crate::analyzer::{Analysis, Analyzer};
use crate::error::Error;

impl Analyzer {
    /// Analyse several capture files, one after the other (each with all the threads), in the
    /// order given. The tables of the result hold the rows of every capture, told apart by
    /// their `capture` column (the path as given).
    ///
    /// # Errors
    /// [`Error::Input`] naming the first path that cannot be read or is not a capture; use
    /// [`Analyzer::analyze_path`] in a loop to keep going past unreadable files.
    pub fn analyze_paths<P: AsRef<Path>>(
        &self,
        paths: impl IntoIterator<Item = P>,
    ) -> Result<Analyses, Error> {
        let mut items = Vec::new();
        for p in paths {
            let p = p.as_ref();
            match self.analyze_path(p) {
                Ok(a) => items.push(a),
                Err(Error::Capture(source)) => {
                    return Err(Error::Input {
                        path: PathBuf::from(p),
                        source,
                    })
                }
                Err(other) => return Err(other),
            }
        }
        Ok(Analyses { items })
    }
}

/// The analyses of several captures ([`Analyzer::analyze_paths`]); each table method returns
/// one frame with the rows of all of them, in input order.
#[derive(Debug, Clone, Default)]
pub struct Analyses {
    items: Vec<Analysis>,
}

impl Analyses {
    /// Wraps analyses made one by one (for example with [`Analyzer::analyze_reader`] and
    /// [`Analysis::set_source`]).
    pub fn new(items: Vec<Analysis>) -> Self {
        Analyses { items }
    }

    /// The analyses, in input order.
    pub fn analyses(&self) -> &[Analysis] {
        &self.items
    }

    /// The connections of every capture (see [`Analysis::connections`]).
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build or stack the frames.
    pub fn connections(&self) -> Result<DataFrame, Error> {
        self.stack(Analysis::connections, || {
            crate::tables::connections_frame(None, &[])
        })
    }

    /// The TLS handshakes of every capture (see [`Analysis::tls`]).
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build or stack the frames.
    pub fn tls(&self) -> Result<DataFrame, Error> {
        self.stack(Analysis::tls, || crate::tables::tls_frame(None, &[]))
    }

    /// The HTTP requests of every capture (see [`Analysis::http`]).
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build or stack the frames.
    pub fn http(&self) -> Result<DataFrame, Error> {
        self.stack(Analysis::http, || crate::tables::http_frame(None, &[], &[]))
    }

    /// The DNS queries of every capture (see [`Analysis::dns`]).
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build or stack the frames.
    pub fn dns(&self) -> Result<DataFrame, Error> {
        self.stack(Analysis::dns, || crate::tables::dns_frame(None, &[]))
    }

    /// The WebSocket connections of every capture (see [`Analysis::websocket`]).
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build or stack the frames.
    pub fn websocket(&self) -> Result<DataFrame, Error> {
        self.stack(Analysis::websocket, || {
            crate::tables::websocket_frame(None, &[])
        })
    }

    /// The QUIC connections of every capture (see [`Analysis::quic`]).
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build or stack the frames.
    pub fn quic(&self) -> Result<DataFrame, Error> {
        self.stack(Analysis::quic, || crate::tables::quic_frame(None, &[]))
    }

    fn stack(
        &self,
        table: impl Fn(&Analysis) -> Result<DataFrame, Error>,
        empty: impl Fn() -> Result<DataFrame, Error>,
    ) -> Result<DataFrame, Error> {
        let mut iter = self.items.iter();
        let mut all = match iter.next() {
            Some(first) => table(first)?,
            None => empty()?,
        };
        for a in iter {
            all.vstack_mut_owned(table(a)?)?;
        }
        all.rechunk_mut();
        Ok(all)
    }
}

impl IntoIterator for Analyses {
    type Item = Analysis;
    type IntoIter = std::vec::IntoIter<Analysis>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata")
            .join(rel)
    }

    #[test]
    fn several_paths_stack_their_rows_in_input_order() {
        let a = testdata("lab/f_refused_syndrop/capture.pcap");
        let b = testdata("lab/e_dns/capture.pcap");
        let an = Analyzer::new().threads(2);
        let both = an.analyze_paths([&a, &b]).expect("analyses");
        assert_eq!(both.analyses().len(), 2);
        let one_a = an.analyze_path(&a).expect("a");
        let one_b = an.analyze_path(&b).expect("b");
        for (all, sa, sb) in [
            (both.connections(), one_a.connections(), one_b.connections()),
            (both.dns(), one_a.dns(), one_b.dns()),
            (both.http(), one_a.http(), one_b.http()),
            (both.tls(), one_a.tls(), one_b.tls()),
        ] {
            let (all, sa, sb) = (all.expect("all"), sa.expect("a"), sb.expect("b"));
            assert_eq!(all.height(), sa.height() + sb.height());
            assert_eq!(all.schema(), sa.schema());
            let cap = all.column("capture").expect("capture");
            let cap = cap.as_materialized_series().str().expect("str").clone();
            let names: Vec<_> = cap.iter().map(|c| c.map(str::to_string)).collect();
            let mut want = vec![Some(a.display().to_string()); sa.height()];
            want.extend(vec![Some(b.display().to_string()); sb.height()]);
            assert_eq!(names, want);
        }
        // f: 6 TCP connections; e_dns: 3 (DNS over TCP).
        assert_eq!(both.connections().expect("c").height(), 9);
        assert!(both.dns().expect("dns").height() > 10);
    }

    #[test]
    fn an_unreadable_input_is_named() {
        let bad = testdata("README.md");
        let err = Analyzer::new()
            .analyze_paths([testdata("lab/e_dns/capture.pcap"), bad.clone()])
            .expect_err("README.md is not a capture");
        match &err {
            Error::Input { path, .. } => assert_eq!(path, &bad),
            other => panic!("unexpected error {other:?}"),
        }
        assert!(err.to_string().contains("README.md"), "{err}");
    }

    #[test]
    fn no_paths_give_empty_tables_with_their_columns() {
        let none = Analyzer::new()
            .analyze_paths(Vec::<PathBuf>::new())
            .expect("nothing to read");
        let conns = none.connections().expect("frame");
        assert_eq!(conns.height(), 0);
        assert!(conns.get_column_index("connect").is_some());
        assert_eq!(none.http().expect("http").height(), 0);
    }
}
