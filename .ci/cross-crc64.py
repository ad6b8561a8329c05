#!/usr/bin/env python3
"""CRC-64/XZ (OSS's x-oss-hash-crc64ecma) of a file, independently of the
library: a byte table over the file's data, and for its holes (a sparse
file) the GF(2) operator for a run of zero bytes, so a 4 GiB sparse file
takes a second. .ci/cross checks the CRC an ARM upload reports with it.

    cross-crc64.py FILE     prints the CRC as 16 hex digits
"""
import os
import sys

POLY = 0xC96C5795D7870F42
TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ POLY if c & 1 else c >> 1
    TABLE.append(c)


def feed(reg, data):
    for b in data:
        reg = TABLE[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


def times(mat, vec):
    out, i = 0, 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def square(mat):
    return [times(mat, row) for row in mat]


def zeros(reg, n):
    """The register after n zero bytes: M^(8n) by repeated squaring."""
    bit = [POLY] + [1 << (k - 1) for k in range(1, 64)]  # one zero bit
    op = square(square(square(bit)))  # one zero byte
    while n:
        if n & 1:
            reg = times(op, reg)
        n >>= 1
        if n:
            op = square(op)
    return reg


def main(path):
    reg = 0xFFFFFFFFFFFFFFFF
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        fd = f.fileno()
        pos = 0
        while pos < size:
            try:
                data_at = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # no data after pos: a hole to the end
                data_at = size
            if data_at > pos:
                reg = zeros(reg, data_at - pos)
                pos = data_at
                continue
            hole_at = os.lseek(fd, pos, os.SEEK_HOLE)
            if hole_at - pos > 256 << 20:
                sys.exit("cross-crc64.py: %s has %d bytes of data at %d: too much for a "
                         "pure-Python CRC (is it sparse?)" % (path, hole_at - pos, pos))
            os.lseek(fd, pos, os.SEEK_SET)
            left = hole_at - pos
            while left:
                chunk = f.read(min(left, 1 << 20))
                reg = feed(reg, chunk)
                left -= len(chunk)
            pos = hole_at
    print("%016x" % (reg ^ 0xFFFFFFFFFFFFFFFF))


if __name__ == "__main__":
    main(sys.argv[1])
