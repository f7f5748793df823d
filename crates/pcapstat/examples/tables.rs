//! Prints the tables of a capture: `cargo run -p pcapstat --example tables -- FILE`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "testdata/lab/d_tls_resumption/capture.pcapng".to_string());
    let analysis = pcapstat::Analyzer::new().analyze_path(&path)?;
    println!("connections\n{}", analysis.connections()?);
    println!("tls\n{}", analysis.tls()?);
    println!("http\n{}", analysis.http()?);
    println!("dns\n{}", analysis.dns()?);
    println!("quic\n{}", analysis.quic()?);
    println!("{:?}", analysis.stats().app);
    Ok(())
}
