//! Open newtypes for the TLS and DNS wire values kept in records: any value is representable,
//! the known ones have a name (`name()`, and `Display` prints the name or the number as the
//! tables show it).

use std::fmt;

/// Declares `$name($ty)` with `name()` (a known name, else `None`) and a `Display` that
/// prints the name or, unknown, the value through `$unknown`.
macro_rules! wire_value {
    (
        $(#[$meta:meta])*
        $name:ident($ty:ty), unknown = $unknown:literal, { $($value:literal => $text:literal,)* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $ty);

        impl $name {
            /// The standard name of the value, if it has one.
            pub fn name(self) -> Option<&'static str> {
                Some(match self.0 {
                    $($value => $text,)*
                    _ => return None,
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, $unknown, self.0),
                }
            }
        }
    };
}

/// Declares a fieldless enum whose values have stable names: the method `$text` (the name of a
/// value) and `ALL` (every value, in declaration order).
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident: $text:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident $(= $disc:literal)? => $str:literal,
            )*
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $( $(#[$vmeta])* $variant $(= $disc)?, )*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$(stringify!($variant)),*].len()] = [$($name::$variant),*];

            /// The stable name (table values, report and JSON keys).
            pub fn $text(self) -> &'static str {
                match self {
                    $($name::$variant => $str,)*
                }
            }
        }
    };
}
pub(crate) use named_enum;

wire_value! {
    /// A TLS protocol version as tshark names it (`TLSv1.2`); unknown ones print as hex
    /// (`0x7f1c`).
    TlsVersion(u16), unknown = "0x{:04x}", {
        0x0300 => "SSLv3",
        0x0301 => "TLSv1.0",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
    }
}

/// A TLS cipher suite; printed as its hex wire value (`0x1301`): no names are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CipherSuite(pub u16);

impl fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:04x}", self.0)
    }
}

wire_value! {
    /// A TLS alert level: `warning` (1), `fatal` (2), else the number.
    AlertLevel(u8), unknown = "{}", {
        1 => "warning",
        2 => "fatal",
    }
}

wire_value! {
    /// A TLS alert description (RFC 8446 §6: `handshake_failure`), else the number.
    AlertDescription(u8), unknown = "{}", {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
    }
}

wire_value! {
    /// A DNS record type mnemonic (`AAAA`), else `TYPEnnn` (RFC 3597).
    DnsType(u16), unknown = "TYPE{}", {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        52 => "TLSA",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "ANY",
        257 => "CAA",
    }
}

wire_value! {
    /// A DNS response code mnemonic (RFC 1035, 2136: `NXDOMAIN`), else the number.
    Rcode(u8), unknown = "{}", {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_unknown_values() {
        assert_eq!(TlsVersion(0x0304).to_string(), "TLSv1.3");
        assert_eq!(TlsVersion(0x7f1c).to_string(), "0x7f1c");
        assert_eq!(CipherSuite(0x1301).to_string(), "0x1301");
        assert_eq!(AlertLevel(2).to_string(), "fatal");
        assert_eq!(AlertLevel(9).to_string(), "9");
        assert_eq!(AlertDescription(40).name(), Some("handshake_failure"));
        assert_eq!(AlertDescription(200).to_string(), "200");
        assert_eq!(DnsType(28).to_string(), "AAAA");
        assert_eq!(DnsType(999).to_string(), "TYPE999");
        assert_eq!(Rcode(3).to_string(), "NXDOMAIN");
        assert_eq!(Rcode(15).to_string(), "15");
    }
}
