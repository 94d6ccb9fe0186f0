"""The examiner's secrets for encrypted layers: passwords, recovery keys and startup key files.

Held in process memory only, never in a locator, a record, the summary or a log: a locator names *which* secret
opened a layer (its kind and position), so that a worker process holding the same secrets reopens it. ``scrub``
removes any secret from a text (a library's error message) before the text goes anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

MASK = "[secret]"


@dataclass(frozen=True)
class Secrets:
    """What ``--password``, ``--recovery-key`` and ``--startup-key`` gave, in the order given."""

    passwords: tuple[str, ...] = ()
    recovery_keys: tuple[str, ...] = ()
    startup_keys: tuple[str, ...] = ()  # paths of BitLocker .BEK files

    def __repr__(self) -> str:  # a traceback or a debug log must not show them
        return (f"Secrets({len(self.passwords)} passwords, {len(self.recovery_keys)} recovery keys, "
                f"{len(self.startup_keys)} startup keys)")

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self.passwords or self.recovery_keys or self.startup_keys)

    def of(self, how: str) -> tuple[str, ...]:
        return {"password": self.passwords, "recovery key": self.recovery_keys,
                "startup key": self.startup_keys}[how]


_HELD = [Secrets()]


def hold(secrets: Secrets) -> None:
    """Keep the secrets for this process (the scan, and each worker from its initializer)."""
    _HELD[0] = secrets


def held() -> Secrets:
    return _HELD[0]


def scrub(text: str) -> str:
    """``text`` with every held secret (longer than two characters) masked."""
    secrets = held()
    for value in sorted((*secrets.passwords, *secrets.recovery_keys), key=len, reverse=True):
        if len(value) > 2 and value in text:
            text = text.replace(value, MASK)
    return text
