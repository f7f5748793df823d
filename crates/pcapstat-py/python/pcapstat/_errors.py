"""The exceptions of pcapstat (raised by the native module, defined here so that ReadError can
be an OSError too)."""


class PcapstatError(Exception):
    """A capture or key log that cannot be analysed: the message is the CLI's
    (`pcapstat: error: MESSAGE`, exit code 2), e.g. ``x.pcap: not a pcap or pcapng file (first
    bytes 0x3c68746d)``."""


class ReadError(PcapstatError, OSError):
    """A file (capture or key log) that cannot be read: missing, a directory, no permission.
    Also an OSError, so ``except OSError`` catches it. Message: ``x.pcap: cannot read file: No
    such file or directory (os error 2)``."""


class DamagedCaptureWarning(UserWarning):
    """A damaged or truncated capture, analysed up to the damage (the CLI's ``pcapstat:
    warning: …``); ``strict=True`` raises a PcapstatError instead."""
