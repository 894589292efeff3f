"""``on.soundcloud.com`` short codes: 8 base-62 characters that decode without a table.

A code holds (track index, 16 check bits) under an affine permutation mod 62**8 keyed by the
world seed, so it looks random, maps back to exactly one track of a world of any size, and a
forged code is refused (the check bits, or an index past the world's tracks).
"""

from __future__ import annotations

from sgr_scrapy.simulator.objects import mix

SHORT_HOST = "on.soundcloud.com"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGIT = {c: i for i, c in enumerate(_B62)}
_LEN, _MOD = 8, 62**8
_MUL = 20_018_936_533_021  # neither even nor a multiple of 31: invertible mod 62**8
_INV = pow(_MUL, -1, _MOD)
_TAG = 7


def _check(seed: int, index: int) -> int:
    return mix(seed, _TAG, index) & 0xFFFF


def encode_short(seed: int, index: int) -> str:
    """Return the short code of track ``index`` in the world of ``seed``."""
    n = (((index << 16) | _check(seed, index)) * _MUL + mix(seed, _TAG)) % _MOD
    code = ""
    for _ in range(_LEN):
        n, r = divmod(n, 62)
        code = _B62[r] + code
    return code


def decode_short(seed: int, code: str, n_tracks: int) -> int | None:
    """Return the track index of a short code, or None when it is not one of this world's."""
    if len(code) != _LEN or not all(c in _DIGIT for c in code):
        return None
    n = 0
    for c in code:
        n = n * 62 + _DIGIT[c]
    value = (n - mix(seed, _TAG)) * _INV % _MOD
    index = value >> 16
    if index >= n_tracks or value & 0xFFFF != _check(seed, index):
        return None
    return index
