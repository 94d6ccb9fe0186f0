"""LUKS1 key slots in Python, for the volumes libluksde refuses: it takes no 128-bit master key, which
cryptsetup's defaults of old (aes-cbc-essiv:sha256, 128 bits) produced.

Only what that needs: PBKDF2 and the anti-forensic merge to recover the master key from a passphrase, and
AES-CBC-ESSIV / AES-CBC-plain / AES-XTS-plain64 sector decryption. Checked against cryptsetup (``luksDump
--dump-master-key``, ``open --test-passphrase``) in tests/sources/volumes/test_luks.py.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from triage.errors import VolumeError

SECTOR = 512
KEY_SLOT_ACTIVE = 0x00AC71F3


class Luks1Header:
    """The fields of a LUKS1 header (cryptsetup's on-disk format specification, version 1.2.3)."""

    def __init__(self, head: bytes) -> None:
        if head[:6] != b"LUKS\xba\xbe" or struct.unpack(">H", head[6:8])[0] != 1:
            raise VolumeError("not a LUKS1 header")
        self.cipher, self.mode, self.hash = (head[o : o + 32].rstrip(b"\0").decode("ascii", "replace")
                                             for o in (8, 40, 72))
        self.payload, self.key_bytes = struct.unpack(">II", head[104:112])
        self.digest, self.digest_salt = head[112:132], head[132:164]
        self.digest_iterations = struct.unpack(">I", head[164:168])[0]
        self.uuid = head[168:208].rstrip(b"\0").decode("ascii", "replace")
        self.slots = []
        for slot in range(8):
            o = 208 + slot * 48
            active, iterations = struct.unpack(">II", head[o : o + 8])
            material, stripes = struct.unpack(">II", head[o + 40 : o + 48])
            if active == KEY_SLOT_ACTIVE:
                self.slots.append((iterations, head[o + 8 : o + 40], material, stripes))


def master_key(header: Luks1Header, read: Any, passphrase: bytes) -> bytes | None:
    """The master key the passphrase opens, or None; ``read(offset, size)`` reads the LUKS volume."""
    if header.key_bytes not in (16, 32, 64) or header.hash not in hashlib.algorithms_available:
        return None
    for iterations, salt, material, stripes in header.slots:
        if stripes < 1 or stripes > 4000 or iterations > 10_000_000:
            continue
        slot_key = hashlib.pbkdf2_hmac(header.hash, passphrase, salt, iterations, header.key_bytes)
        size = header.key_bytes * stripes
        encrypted = read(material * SECTOR, -(-size // SECTOR) * SECTOR)
        split = decrypt(header, slot_key, encrypted, 0)[:size]
        candidate = af_merge(split, header.key_bytes, stripes, header.hash)
        check = hashlib.pbkdf2_hmac(header.hash, candidate, header.digest_salt, header.digest_iterations, 20)
        if check == header.digest:
            return candidate
    return None


def af_merge(data: bytes, key_bytes: int, stripes: int, hash_name: str) -> bytes:
    """LUKS's anti-forensic merge: XOR each stripe into the running value and diffuse it, the last one undiffused."""
    merged = bytes(key_bytes)
    for stripe in range(stripes - 1):
        merged = _diffuse(_xor(merged, data[stripe * key_bytes : (stripe + 1) * key_bytes]), hash_name)
    return _xor(merged, data[(stripes - 1) * key_bytes : stripes * key_bytes])


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _diffuse(block: bytes, hash_name: str) -> bytes:
    step = hashlib.new(hash_name).digest_size
    parts = []
    for i in range(0, len(block), step):
        piece = block[i : i + step]
        parts.append(hashlib.new(hash_name, struct.pack(">I", i // step) + piece).digest()[: len(piece)])
    return b"".join(parts)


def supported(header: Luks1Header) -> bool:
    return header.cipher == "aes" and header.mode in ("cbc-essiv:sha256", "cbc-plain", "cbc-plain64", "xts-plain64")


def decrypt(header: Luks1Header, key: bytes, data: bytes, sector: int) -> bytes:
    """Decrypt whole sectors starting at sector number ``sector`` (dm-crypt's IV numbering)."""
    out = []
    if header.mode.startswith("xts"):
        for i in range(len(data) // SECTOR):
            tweak = struct.pack("<Q", sector + i) + bytes(8)
            cipher = Cipher(algorithms.AES(key), modes.XTS(tweak)).decryptor()
            out.append(cipher.update(data[i * SECTOR : (i + 1) * SECTOR]))
        return b"".join(out)
    essiv = None
    if header.mode == "cbc-essiv:sha256":
        essiv = Cipher(algorithms.AES(hashlib.sha256(key).digest()), modes.ECB()).encryptor()
    for i in range(len(data) // SECTOR):
        number = struct.pack("<Q", (sector + i) & (0xFFFFFFFF if header.mode == "cbc-plain" else 0xFFFFFFFFFFFFFFFF))
        iv = essiv.update(number + bytes(8)) if essiv is not None else number + bytes(8)
        out.append(Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor().update(data[i * SECTOR : (i + 1) * SECTOR]))
    return b"".join(out)


class Luks1Volume:
    """The decrypted payload of a LUKS1 volume, with the methods ``LibyalReader`` and the unlock loop call."""

    def __init__(self) -> None:
        self._file: Any = None
        self._header: Luks1Header | None = None
        self._key: bytes | None = None
        self._passphrase: bytes | None = None

    def open_file_object(self, file_object: Any) -> None:
        self._file = file_object
        file_object.seek(0)
        self._header = Luks1Header(file_object.read(592))
        if not supported(self._header):
            raise VolumeError(f"LUKS1 cipher {self._header.cipher}-{self._header.mode} not supported")

    def _read(self, offset: int, size: int) -> bytes:
        self._file.seek(offset)
        return self._file.read(size)

    def set_password(self, password: str) -> None:
        self._passphrase = password.encode("utf-8")

    def unlock(self) -> bool:
        assert self._header is not None
        if self._passphrase is not None:
            self._key = master_key(self._header, self._read, self._passphrase)
        return self._key is not None

    def is_locked(self) -> bool:
        return self._key is None

    def get_size(self) -> int:
        assert self._header is not None
        return max(0, self._file.get_size() - self._header.payload * SECTOR)

    def read_buffer_at_offset(self, size: int, offset: int) -> bytes:
        assert self._header is not None and self._key is not None
        first, last = offset // SECTOR, -(-(offset + size) // SECTOR)
        data = self._read(self._header.payload * SECTOR + first * SECTOR, (last - first) * SECTOR)
        data = data[: len(data) - len(data) % SECTOR]
        plain = decrypt(self._header, self._key, data, first)
        return plain[offset - first * SECTOR : offset - first * SECTOR + size]

    def close(self) -> None:
        self._key = None
