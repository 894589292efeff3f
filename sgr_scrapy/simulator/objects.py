"""API object builders for the simulator: v1 Track, User and Playlist dicts with real-world text.

Everything here is a pure function of an integer seed, so a world is reproducible byte for
byte. The text pools deliberately carry the edge cases a harvester must survive: non-BMP
emoji, RTL Arabic and Hebrew, CJK, quotes, backslashes, ``\\r\\n``, ``&``, empty strings and
nulls where the API allows nulls (see /work/shared/soundcloud-api.md §2 and §7.5).
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

_M64 = (1 << 64) - 1

# 2026-06-01T00:00:00Z: the simulated "now"; every timestamp of the world is before it.
WORLD_NOW_MS = 1_780_272_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TITLE_WORDS = [
    "Midnight", "Drive", "Sunset", "Echoes", "Deep", "Lights", "Ночной", "город", "夜の街",
    "东京", "서울의 밤", "ليلة", "حب", "שלום", "עולם", "🎧", "🔥", "💜", "🌊", "Café", "naïve",
    "R&B", "Rock & Roll", '"Live"', "It's", "back\\slash", "C:\\path", "–", "—", "mix",  # noqa: RUF001
    "remix", "(Edit)", "[Free DL]", "feat.", "<b>bold</b>", "100%", "#1", "Ça va", "Straße",
]  # fmt: skip
USER_NAMES = [
    "DJ Ñandú", "Zoë", "محمد", "דניאל", "山田太郎", "김민수", "Łukasz", "O'Brien",
    'The "Band"', "back\\slash", "🎹 keys", "ace", "Beatz", "Mañana", "Ólafur", "Ærø",
    "Björk fan", "نور", "יעל", "王小明", "K & J", "lo-fi girl", "𝕯𝖆𝖗𝖐", "x",  # noqa: RUF001
]  # fmt: skip
CITIES = ["Berlin", "Cairo", "Tel Aviv", "東京", "Seoul", "São Paulo", "", None, "Zürich"]
COUNTRIES = ["Germany", "Egypt", "Israel", "Japan", "Korea", "Brazil", "", None]
GENRES = [
    "Electronic", "Hip-hop & Rap", "Deep House", "Jazz & Blues", "Ambient", "Pop", "Rock",
    "R&B & Soul", "Drum & Bass", "Techno", "Lo-Fi", "Classical", "World", "",
]  # fmt: skip
TAGS = [
    "electronic", '"deep house"', "techno", '"hip hop"', "soundcloud:source=iphone-record",
    "geo:lat=52.52", "lofi", '"drum & bass"', "Jazz", "ambient", "dubstep", "breakbeat",
    '"Южный ветер"', "東京", "🔥",
]  # fmt: skip
DESCRIPTION_LINES = [
    "Free download 👉 https://example.com/dl?a=1&b=2",
    "انا فقط أعرف ما لا أريد!",
    "שיר חדש — תהנו",
    "新曲です。よろしく！",  # noqa: RUF001
    'Mixed by "the crew" \\ mastered at home',
    "Tabs\tand trailing spaces   ",
    "Line with a lone backslash \\",
    "𝄞 music 🎶🎶",
    "",
]  # fmt: skip
LICENSES = ["all-rights-reserved", "cc-by", "cc-by-nc-sa", "no-rights-reserved"]
ACCESS = ["playable", "playable", "playable", "preview"]


def mix(*parts: int) -> int:
    """Return a 64-bit hash of integers (splitmix64 chain): cheap, stable across runs."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = ((h ^ (p & _M64)) * 0xBF58476D1CE4E5B9) & _M64
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & _M64
        h ^= h >> 29
    return h


def mix_step(h: int, p: int) -> int:
    """Return ``mix(*parts, p)`` given ``h = mix(*parts)``: one more link of the chain."""
    h = ((h ^ (p & _M64)) * 0xBF58476D1CE4E5B9) & _M64
    h ^= h >> 31
    h = (h * 0x94D049BB133111EB) & _M64
    return h ^ (h >> 29)


def v1_date(ms: int) -> str:
    """Format epoch milliseconds as the v1 ``yyyy/MM/dd HH:mm:ss +0000``."""
    return (_EPOCH + timedelta(milliseconds=ms)).strftime("%Y/%m/%d %H:%M:%S +0000")


def iso_ms(ms: int) -> str:
    """Format epoch milliseconds as ISO 8601 with milliseconds and ``Z``."""
    dt = _EPOCH + timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def base36(n: int) -> str:
    """Return ``n`` in base 36 (lower case)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def slug(text: str, fallback: str) -> str:
    """Return an ASCII permalink slug of ``text`` (``fallback`` when nothing is left)."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:40].strip("-") or fallback


def _title(rng: random.Random) -> str:
    words = rng.choices(TITLE_WORDS, k=rng.randint(1, 5))
    title = " ".join(words)
    if rng.random() < 0.02:
        title += "\r\nPart 2"
    return title


def _tag_list(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.15:
        return ""
    if r < 0.2:
        return " Jazz"
    return " ".join(rng.sample(TAGS, rng.randint(1, 4)))


def _description(rng: random.Random) -> str | None:
    r = rng.random()
    if r < 0.3:
        return None
    if r < 0.4:
        return ""
    sep = rng.choice(["\r\n", "\n"])
    return sep.join(rng.sample(DESCRIPTION_LINES, rng.randint(1, 4)))


def _maybe_count(rng: random.Random, hi: int, null_share: float = 0.05) -> int | None:
    if rng.random() < null_share:
        return None
    return int(hi * rng.random() ** 3)


def user_core(seed: int, index: int, user_id: int, n_likes: int) -> dict:
    """Return the origin-independent fields of user ``index`` (no ``uri``)."""
    rng = random.Random(mix(seed, 0xA11CE, index))
    name = rng.choice(USER_NAMES)
    if rng.random() < 0.5:
        name = f"{name} {rng.randint(1, 9999)}"
    permalink = f"{slug(name, 'user')}-{base36(index)}"
    first = rng.choice(["", "Anna", "Ali", "Noa", "Jun", "Zoë", None])
    last = rng.choice(["", "Müller", "حسن", "Cohen", "김", None])
    created = WORLD_NOW_MS - rng.randint(10**9, 5 * 10**11)
    desc = _description(rng)
    return {
        "avatar_url": f"https://i1.sndcdn.com/avatars-{user_id:012d}-{base36(index)}-large.jpg",
        "id": user_id,
        "urn": f"soundcloud:users:{user_id}",
        "kind": "user",
        "permalink_url": f"https://soundcloud.com/{permalink}",
        "username": name,
        "permalink": permalink,
        "created_at": v1_date(created),
        "last_modified": v1_date(created + rng.randint(0, 10**10)),
        "first_name": first,
        "last_name": last,
        "full_name": " ".join(p for p in (first, last) if p),
        "city": rng.choice(CITIES),
        "description": desc,
        "country": rng.choice(COUNTRIES),
        "track_count": rng.randint(0, 300),
        # Counts liked tracks and playlists, so it never equals the likes list length (#59).
        "public_favorites_count": n_likes + rng.randint(0, 20),
        "reposts_count": rng.randint(0, 500),
        "followers_count": int(100_000 * rng.random() ** 6),
        "followings_count": rng.randint(0, 2000),
        "plan": rng.choice(["Free", "Pro", "Pro Unlimited", "Next Pro"]),
        "myspace_name": None,
        "discogs_name": None,
        "website_title": rng.choice(["", None, "Bandcamp & more"]),
        "website": rng.choice([None, "", "http://www.behance.net/x?a=1&b=2"]),
        "comments_count": 0,
        "online": False,
        "likes_count": n_likes,
        "playlist_count": rng.randint(0, 40),
        "subscriptions": [{"product": {"id": "free", "name": "Free"}}],
    }


# The legacy (2016-2021) nested user; served with its ``uri``.
MINI_USER_KEYS = (
    "kind", "id", "urn", "permalink", "username", "last_modified", "permalink_url",
    "avatar_url",
)  # fmt: skip
# The 2026 nested user (soundcloud-api.md §2.1): no counts, no uri, no permalink_url.
PARTIAL_USER_KEYS = (
    "kind", "id", "urn", "username", "permalink", "avatar_url", "city", "country",
)  # fmt: skip
NESTED_USER_SHAPES = ("partial", "mini", "full")


def track_core(seed: int, index: int, track_id: int, blocked_share: float) -> dict:
    """Return the origin-independent fields of track ``index`` (no ``user`` nor URLs)."""
    rng = random.Random(mix(seed, 0x7EAC, index))
    title = _title(rng)
    created = WORLD_NOW_MS - rng.randint(10**8, 5 * 10**11)
    reveal = rng.random() >= 0.15
    hidden = not reveal
    access = "blocked" if rng.random() < blocked_share else rng.choice(ACCESS)
    return {
        "kind": "track",
        "id": track_id,
        "urn": f"soundcloud:tracks:{track_id}",
        "created_at": v1_date(created),
        "duration": rng.randint(5_000, 3_600_000),
        "commentable": rng.random() < 0.9,
        "comment_count": _maybe_count(rng, 500),
        "sharing": "public",
        "tag_list": _tag_list(rng),
        "streamable": access != "blocked",
        "embeddable_by": "all",
        "purchase_url": None,
        "purchase_title": rng.choice([None, "", "Buy & download"]),
        "genre": None if rng.random() < 0.2 else rng.choice(GENRES),
        "title": title,
        "description": _description(rng),
        "label_name": rng.choice([None, "", "Ninja Tune", "レーベル"]),
        "release": None,
        "key_signature": rng.choice([None, "", "C# min", "Ab maj"]),
        "isrc": None,
        "bpm": None if rng.random() < 0.6 else round(60 + 120 * rng.random(), 1),
        "release_year": rng.choice([None, rng.randint(1990, 2026)]),
        "release_month": None,
        "release_day": None,
        "license": rng.choice(LICENSES),
        "slug": f"{slug(title, 'track')}-{base36(index)}",
        "artwork_url": None
        if rng.random() < 0.25
        else f"https://i1.sndcdn.com/artworks-{track_id:012d}-large.jpg",
        "waveform_url": f"https://wave.sndcdn.com/{base36(mix(seed, track_id))}_m.png",
        "available_country_codes": None,
        "secret_uri": None,
        "user_favorite": None,
        "user_playback_count": None,
        "playback_count": None if hidden else _maybe_count(rng, 10_000_000),
        "download_count": _maybe_count(rng, 1000),
        "favoritings_count": None if hidden else _maybe_count(rng, 100_000),
        "reposts_count": _maybe_count(rng, 10_000),
        "downloadable": rng.random() < 0.1,
        "access": access,
        "policy": None,
        "monetization_model": None,
        "reveal_stats": reveal,
        "reveal_comments": rng.random() < 0.9,
        "metadata_artist": rng.choice([None, "", "Various Artists"]),
        "created_ms": created,
    }


def finish_user(core: dict, origin: str, shape: str = "full") -> dict:
    """Return the served user in ``shape`` (one of ``NESTED_USER_SHAPES``).

    ``full``: ``core`` plus its ``uri`` on ``origin``; ``mini``: the legacy subset plus
    ``uri``; ``partial``: the 2026 subset, without ``uri``.
    """
    if shape == "partial":
        return {k: core[k] for k in PARTIAL_USER_KEYS}
    user = {k: core[k] for k in MINI_USER_KEYS} if shape == "mini" else dict(core)
    user["uri"] = f"{origin}/users/{core['urn']}"
    return user


def finish_track(core: dict, user: dict, origin: str) -> dict:
    """Return the served track: ``core`` with its artist ``user`` and URLs on ``origin``."""
    track = dict(core)
    permalink = track.pop("slug")
    del track["created_ms"]
    base = f"{origin}/tracks/{core['urn']}"
    track["uri"] = base
    track["user"] = user
    track["permalink_url"] = f"https://soundcloud.com/{user['permalink']}/{permalink}"
    track["stream_url"] = f"{base}/stream"
    track["download_url"] = f"{base}/download" if core["downloadable"] else None
    return track


PLAYLIST_TYPES = ["", "", "album", "ep", "compilation", "playlist"]


def playlist_core(seed: int, index: int, playlist_id: int, created_ms: int) -> dict:
    """Return the origin-independent fields of playlist ``index`` (OAS ``Playlist``).

    Without ``user``, ``tracks``, ``track_count``, ``duration`` and URLs (``finish_playlist``).
    """
    rng = random.Random(mix(seed, 0x9A7, index))
    title = _title(rng)
    kind = rng.choice(PLAYLIST_TYPES)
    return {
        "kind": "playlist",
        "id": playlist_id,
        "urn": f"soundcloud:playlists:{playlist_id}",
        "title": title,
        "created_at": v1_date(created_ms),
        "last_modified": v1_date(created_ms + rng.randint(0, 10**10)),
        "description": _description(rng),
        "genre": None if rng.random() < 0.3 else rng.choice(GENRES),
        "tag_list": _tag_list(rng),
        "tags": None,
        "label": None,
        "label_id": None,
        "label_name": rng.choice([None, "", "Ninja Tune"]),
        "license": rng.choice(LICENSES),
        "likes_count": _maybe_count(rng, 5000),
        "playlist_type": kind,
        "type": kind,
        "sharing": "public",
        "streamable": True,
        "downloadable": rng.random() < 0.1,
        "embeddable_by": "all",
        "ean": None,
        "purchase_title": None,
        "purchase_url": None,
        "release": None,
        "release_day": None,
        "release_month": None,
        "release_year": rng.choice([None, rng.randint(1990, 2026)]) if kind else None,
        "artwork_url": None
        if rng.random() < 0.4
        else f"https://i1.sndcdn.com/artworks-{playlist_id:012d}-large.jpg",
        "permalink": f"{slug(title, 'set')}-{base36(index)}",
    }


def finish_playlist(core: dict, user: dict, origin: str, track_count: int, duration: int) -> dict:
    """Return the served playlist without ``tracks``: ``core`` with its owner and URLs."""
    playlist = dict(core)
    base = f"{origin}/playlists/{core['urn']}"
    playlist["uri"] = base
    playlist["tracks_uri"] = f"{base}/tracks"
    playlist["permalink_url"] = (
        f"https://soundcloud.com/{user['permalink']}/sets/{core['permalink']}"
    )
    playlist["user"] = user
    playlist["user_urn"] = user["urn"]
    playlist["track_count"] = track_count
    playlist["duration"] = duration
    return playlist
