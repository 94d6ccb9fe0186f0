"""LUKS2 volumes in Python, because libluksde reads LUKS1 only: a password opens a keyslot (PBKDF2 or Argon2),
the keyslot's anti-forensic split yields the volume key, a digest confirms it, and the data segment is decrypted
sector by sector exactly as dm-crypt does.

Checked against cryptsetup itself: the test volumes are made by ``cryptsetup reencrypt --encrypt`` (cryptsetup
encrypts the payload, not us) and ``luksDump --dump-volume-key`` is the oracle for the key
(tests/sources/volumes/test_luks2.py). The header and its bounds are in ``luks2_header``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import numpy as np
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf import argon2

from triage.errors import VolumeError
from triage.sources.volumes.luks1 import af_merge
from triage.sources.volumes.luks2_header import SECTOR, Keyslot, Metadata, read_metadata

ARGON2 = {"argon2id": getattr(argon2, "Argon2id", None), "argon2i": getattr(argon2, "Argon2i", None)}


class SectorCipher:
    """dm-crypt's sector decryption for one cipher spec: ``aes-xts-plain64``, ``aes-xts-plain``,
    ``aes-cbc-essiv:sha256``, ``aes-cbc-plain64``, ``aes-cbc-plain``.

    Why the IV counts 512-byte sectors whatever the sector size: cryptsetup activates LUKS2 without dm-crypt's
    ``iv_large_sectors`` (only plain and BitLocker mappings set it), so a 4096-byte sector k has IV 8k + iv_tweak.
    """

    def __init__(self, spec: str, key: bytes, sector_size: int = SECTOR, iv_tweak: int = 0) -> None:
        problem = self.problem(spec, len(key))
        if problem:
            raise ValueError(problem)
        _cipher, self.mode, iv = spec.split("-", 2)
        self.key, self.sector_size, self.iv_tweak = key, sector_size, iv_tweak
        self.iv = iv.split(":", 1)[0]
        self._essiv: Any = None
        if self.iv == "essiv":
            salt = hashlib.new(iv.split(":", 1)[1], key).digest()
            self._essiv = Cipher(algorithms.AES(salt), modes.ECB()).encryptor()

    @staticmethod
    def problem(spec: str, key_size: int | None = None) -> str | None:
        """Why ``spec`` (with a key of ``key_size`` bytes) cannot be decrypted here, or None."""
        parts = spec.split("-", 2)
        if len(parts) != 3 or parts[0] != "aes" or parts[1] not in ("xts", "cbc"):
            return f"cipher {spec} not supported"
        iv = parts[2]
        if parts[1] == "xts" and iv not in ("plain64", "plain"):
            return f"cipher {spec} not supported"
        if parts[1] == "cbc" and iv not in ("plain64", "plain"):
            essiv = iv.split(":", 1)
            if essiv[0] != "essiv" or len(essiv) != 2 or essiv[1] not in ("sha256", "sha1", "sha512", "sha384"):
                return f"cipher {spec} not supported"
            if hashlib.new(essiv[1]).digest_size not in (16, 24, 32):
                return f"cipher {spec}: the ESSIV hash gives no AES key"
        sizes = (32, 64) if parts[1] == "xts" else (16, 24, 32)
        if key_size is not None and key_size not in sizes:
            return f"cipher {spec} with a {8 * key_size}-bit key not supported"
        return None

    def _ivs(self, first: int, count: int) -> bytes:
        """The IVs of ``count`` sectors from sector ``first``: dm-crypt's 512-byte sector numbers, little-endian."""
        mask = np.uint64(0xFFFFFFFF if self.iv == "plain" else 0xFFFFFFFFFFFFFFFF)
        step = self.sector_size // SECTOR
        start = np.uint64((self.iv_tweak + first * step) & 0xFFFFFFFFFFFFFFFF)
        blocks = np.zeros((count, 2), dtype="<u8")
        blocks[:, 0] = (np.arange(count, dtype=np.uint64) * np.uint64(step) + start) & mask
        raw = blocks.tobytes()
        return self._essiv.update(raw) if self._essiv is not None else raw

    def decrypt(self, data: bytes, first: int) -> bytes:
        """Decrypt whole sectors; ``first`` is the number of data's first sector (sector_size units).

        Why numpy: one AES-ECB call over the whole buffer, with the XTS tweaks or the CBC chaining done as array
        XORs, runs several times faster than one cipher object per sector.
        """
        count = len(data) // self.sector_size
        if count == 0:
            return b""
        blocks = self.sector_size // 16
        cipher = np.frombuffer(data, dtype=np.uint8, count=count * self.sector_size).reshape(count, blocks, 16)
        ivs = self._ivs(first, count)
        if self.mode == "cbc":
            plain = _ecb(self.key, cipher.tobytes(), encrypt=False).reshape(count, blocks, 16)
            chain = np.empty_like(cipher)
            chain[:, 0] = np.frombuffer(ivs, dtype=np.uint8).reshape(count, 16)
            chain[:, 1:] = cipher[:, :-1]
            return (plain ^ chain).tobytes()
        half = len(self.key) // 2
        tweaks = _xts_tweaks(_ecb(self.key[half:], ivs, encrypt=True).view("<u8").reshape(count, 2), blocks)
        plain = _ecb(self.key[:half], (cipher ^ tweaks).tobytes(), encrypt=False).reshape(count, blocks, 16)
        return (plain ^ tweaks).tobytes()


def _ecb(key: bytes, data: bytes, *, encrypt: bool) -> np.ndarray:
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    worker = cipher.encryptor() if encrypt else cipher.decryptor()
    return np.frombuffer(worker.update(data), dtype=np.uint8)


def _xts_tweaks(first: np.ndarray, blocks: int) -> np.ndarray:
    """Each sector's XTS tweak for each of its 16-byte blocks: the encrypted IV times x^j in GF(2^128) (IEEE 1619,
    little-endian). Blocks j+s are made from blocks j at once (times x^s, s up to 32), so a 4096-byte sector
    takes a dozen array steps, not 256."""
    tweaks = np.empty((len(first), blocks, 2), dtype="<u8")
    tweaks[:, 0] = first
    filled = 1
    while filled < blocks:
        step = min(filled, 32)
        count = min(step, blocks - filled)
        tweaks[:, filled : filled + count] = _times_x(tweaks[:, filled - step : filled - step + count], step)
        filled += count
    return tweaks.view(np.uint8).reshape(len(first), blocks, 16)


def _times_x(values: np.ndarray, power: int) -> np.ndarray:
    """``values`` (…, [low, high] 64-bit halves) times x^power, 1 <= power <= 32: the bits shifted out of the top
    fold back in as x^128 = x^7 + x^2 + x + 1 (0x87), staying below bit 39."""
    low, high = values[..., 0], values[..., 1]
    shift, back = np.uint64(power), np.uint64(64 - power)
    out = high >> back
    result = np.empty_like(values)
    result[..., 1] = (high << shift) | (low >> back)
    result[..., 0] = (low << shift) ^ out ^ (out << np.uint64(1)) ^ (out << np.uint64(2)) ^ (out << np.uint64(7))
    return result


def area_key(slot: Keyslot, password: bytes) -> bytes:
    """The key of the keyslot's area, stretched from the password with the keyslot's KDF."""
    if slot.kdf == "pbkdf2":
        return hashlib.pbkdf2_hmac(slot.kdf_hash, password, slot.salt, slot.iterations, slot.area_key_size)
    kdf = ARGON2[slot.kdf]
    if kdf is None:
        raise ValueError(f"keyslot {slot.id}: {slot.kdf} not available (the cryptography package lacks it)")
    try:
        return kdf(salt=slot.salt, length=slot.area_key_size, iterations=slot.iterations, lanes=slot.lanes,
                   memory_cost=slot.memory).derive(password)
    except UnsupportedAlgorithm:
        raise ValueError(f"keyslot {slot.id}: {slot.kdf} not available in this OpenSSL") from None
    except MemoryError:
        raise ValueError(f"keyslot {slot.id}: {slot.memory >> 10} MiB for {slot.kdf} not available") from None


def volume_key(slot: Keyslot, read: Any, password: bytes) -> bytes | None:
    """The volume key ``password`` opens in ``slot``, or None; ``read(offset, size)`` reads the LUKS volume."""
    key = area_key(slot, password)
    size = slot.key_size * slot.stripes
    encrypted = read(slot.area_offset, -(-size // SECTOR) * SECTOR)
    if len(encrypted) < size:
        raise ValueError(f"keyslot {slot.id}: area cut short")
    split = SectorCipher(slot.area_encryption, key).decrypt(encrypted, 0)[:size]
    candidate = af_merge(split, slot.key_size, slot.stripes, slot.af_hash)
    digest = slot.digest
    check = hashlib.pbkdf2_hmac(digest.hash, candidate, digest.salt, digest.iterations, len(digest.value))
    return candidate if hmac.compare_digest(check, digest.value) else None


def usable(meta: Metadata, size: int) -> tuple[list[Keyslot], list[str]]:
    """The keyslots worth a password, and "keyslot N: reason" for the others."""
    slots, skipped = [], list(meta.skipped)
    for slot in meta.keyslots:
        problem = (SectorCipher.problem(slot.area_encryption, slot.area_key_size)
                   or SectorCipher.problem(meta.segment.encryption, slot.key_size))
        if slot.area_offset + -(-slot.key_size * slot.stripes // SECTOR) * SECTOR > size:
            problem = f"area at {slot.area_offset} past the end of the volume ({size} bytes): truncated?"
        elif slot.kdf in ARGON2 and ARGON2[slot.kdf] is None:
            problem = f"{slot.kdf} not available (the cryptography package lacks it)"
        if problem:
            skipped.append(f"keyslot {slot.id}: {problem}")
        else:
            slots.append(slot)
    return slots, skipped


class Luks2Volume:
    """The decrypted data segment of a LUKS2 volume, with the methods ``LibyalReader`` and the unlock loop call.

    Opening reads and checks the header: a volume no password could open (damaged header, unsupported cipher,
    a keyslot claiming more than triage/defaults.py allows) fails there with the reason, before any password.
    """

    def __init__(self) -> None:
        self._file: Any = None
        self.meta: Metadata | None = None
        self._slots: list[Keyslot] = []
        self.skipped: list[str] = []
        self.short = ""
        self._size = 0
        self._password: bytes | None = None
        self._cipher: SectorCipher | None = None

    def open_file_object(self, file_object: Any) -> None:
        self._file = file_object
        volume = int(file_object.get_size())
        meta = self.meta = read_metadata(self._read, volume)
        segment = meta.segment
        problem = SectorCipher.problem(segment.encryption)
        if problem:
            raise VolumeError(f"LUKS2 data segment: {problem}")
        if segment.offset >= volume:
            raise VolumeError(f"LUKS2 data segment at {segment.offset} past the end of the volume ({volume} bytes): "
                              "truncated?")
        available = volume - segment.offset
        size = available if segment.size is None else min(segment.size, available)
        self._size = size - size % segment.sector_size
        self._slots, self.skipped = usable(meta, volume)
        if segment.size is not None and segment.size > available:
            self.short = f"data segment cut short: {available:,} of its {segment.size:,} bytes present"
        if not self._slots:
            raise VolumeError("; ".join(self.skipped) or "LUKS2 volume has no keyslot")

    def facts(self) -> dict[str, Any]:
        """What the summary says of the volume, whether it opens or not."""
        assert self.meta is not None
        segment, copy = self.meta.segment, self.meta.copy
        facts: dict[str, Any] = {"identifier": copy.uuid or None,
                                 "method": f"{segment.encryption} {8 * self._slots[0].key_size}-bit, "
                                           f"{segment.sector_size}-byte sectors",
                                 "kdf": ", ".join(sorted({slot.kdf for slot in self._slots}))}
        if copy.label:
            facts["label"] = copy.label
        if self.skipped or self.short:
            facts["errors"] = [*self.skipped, *([self.short] if self.short else [])]
        return facts

    def _read(self, offset: int, size: int) -> bytes:
        self._file.seek(offset)
        return bytes(self._file.read(size))

    def set_password(self, password: str) -> None:
        self._password = password.encode("utf-8")

    def unlock(self) -> bool:
        """Try the password on every usable keyslot (high priority first); a keyslot that fails is reported only
        when no other one opened."""
        assert self.meta is not None
        if self._password is None:
            return False
        problems = []
        for slot in self._slots:
            try:
                key = volume_key(slot, self._read, self._password)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            if key is not None:
                segment = self.meta.segment
                self._cipher = SectorCipher(segment.encryption, key, segment.sector_size, segment.iv_tweak)
                return True
        if problems:
            raise ValueError("; ".join(problems))
        return False

    def is_locked(self) -> bool:
        return self._cipher is None

    def get_size(self) -> int:
        return self._size

    def read_buffer_at_offset(self, size: int, offset: int) -> bytes:
        assert self.meta is not None and self._cipher is not None
        segment = self.meta.segment
        step = segment.sector_size
        size = max(0, min(size, self._size - offset))
        first, last = offset // step, -(-(offset + size) // step)
        data = self._read(segment.offset + first * step, (last - first) * step)
        plain = self._cipher.decrypt(data, first)
        return plain[offset - first * step : offset - first * step + size]

    def close(self) -> None:
        self._cipher = None
        self._password = None
