"""The bundled captures the package and Spark tests run on (paths relative to the repository):
lab captures with TLS (and its key log), DNS, refused connections, other link types, IPv6
fragments, an empty file, and QUIC with HTTP/3 (keys embedded in the pcapng)."""

LAB = "testdata/lab"
CAPTURES = [
    f"{LAB}/d_tls_resumption/capture.pcapng",
    f"{LAB}/d_tls_resumption/capture-with-keys.pcapng",
    f"{LAB}/e_dns/capture.pcap",
    f"{LAB}/f_refused_syndrop/capture.pcap",
    f"{LAB}/f_refused_syndrop/capture.pcapng",
    "testdata/link-null-http.pcap",
    "testdata/link-raw12-ipv6-http.pcap",
    "testdata/frag-ipv6-dns.pcap",
    "testdata/pcap-empty.pcap",
    "testdata/quic/j_quic-h3.pcapng",
]
KEYLOG = f"{LAB}/d_tls_resumption/sslkeylog.txt"
