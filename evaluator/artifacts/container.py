"""How a foreign artifact (the record's, the official baseline's) is wrapped, told by its first bytes: a zstd frame
or a zlib stream around a torch.save zip archive. Standard library only, so that the web process can look at an
upload's first bytes without torch; our own `.ptz` has its own magic (crawler.ptz.HEADERS)."""
from __future__ import annotations

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
TORCH_ZIP_MAGIC = b"PK\x03\x04"  # what torch.save writes, once the container is undone
ZSTD = "zstd"
ZLIB = "zlib"


def detect_container(first_bytes: bytes) -> str | None:
    """ZSTD or ZLIB from a file's first four bytes (a zlib header is two: CM 8, and a multiple of 31); None for
    neither."""
    if first_bytes.startswith(ZSTD_MAGIC):
        return ZSTD
    if len(first_bytes) >= 2 and (first_bytes[0] & 0x0F) == 8 and ((first_bytes[0] << 8) | first_bytes[1]) % 31 == 0:
        return ZLIB
    return None
