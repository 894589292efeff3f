"""SoundCloud API v1 knowledge with no Scrapy import: endpoint URLs, page envelopes, ids, tags.

Everything here is a pure function of its arguments, so it is tested against hand-made,
real-shaped JSON (tests/test_api.py) without a crawl.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import ParseResult, SplitResult, urlencode, urlsplit, urlunsplit

import orjson

from sgr_scrapy.items import Playlist, Track, User

# SoundCloud has been seen handing out next_hrefs on its internal host (soundcloud/api#309,
# #368); they resolve nowhere, but the same path and query work on the public API host.
INTERNAL_HOSTS = frozenset({"http.api.prod.api-public.srv.db.s-cloud.net"})
SOUNDCLOUD_HOSTS = frozenset({"soundcloud.com", "www.soundcloud.com", "m.soundcloud.com"})
SHORT_LINK_HOSTS = frozenset({"on.soundcloud.com"})
# Paths of soundcloud.com that are not a user's: /discover, /search, ... (first path segment).
RESERVED_PATHS = frozenset(
    {"discover", "search", "stream", "you", "upload", "charts", "stations", "settings", "pages"}
)
_TAGS_RE = re.compile(r'"([^"]*)"|(\S+)')  # yt-dlp's tag_list rule, quotes kept whole
_V1_UTC_RE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \+0000$")
_URN_RE = re.compile(r"^soundcloud:(?:tracks|users|playlists|comments):(\d+)$")


class ApiError(ValueError):
    """Raised by the parsers here when a response is not what the API documents."""


def origin(url: str | SplitResult | ParseResult) -> str:
    """`scheme://host:port` of a URL (or an already split one), lower-cased, port explicit."""
    parts = urlsplit(url) if isinstance(url, str) else url
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


def check_seed_url(url: str) -> str:
    """Return `url` stripped if it can be a SoundCloud track URL; raise ValueError if not."""
    url = url.strip()
    parts = urlsplit(url if "://" in url else f"https://{url}")
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or host not in SOUNDCLOUD_HOSTS | SHORT_LINK_HOSTS:
        raise ValueError(f"{url!r} is not a soundcloud.com URL")
    segments = [s for s in parts.path.split("/") if s]
    if host in SHORT_LINK_HOSTS:
        return urlunsplit(parts)
    if len(segments) < 2 or segments[0] in RESERVED_PATHS:
        kind = "user" if len(segments) == 1 else "page"
        raise ValueError(
            f"{url!r} is a {kind} URL, not a track URL (soundcloud.com/<artist>/<track>)"
        )
    if segments[1] == "sets":
        raise ValueError(f"{url!r} is a playlist URL, not a track URL")
    return urlunsplit(parts)


def resolve_url(api_url: str, seed_url: str) -> str:
    return f"{api_url}/resolve?{urlencode({'url': seed_url})}"


def track_url(api_url: str, track_id: int) -> str:
    return f"{api_url}/tracks/{track_id}"


def user_url(api_url: str, user_id: int) -> str:
    return f"{api_url}/users/{user_id}"


def rebase(url: str, api_url: str) -> str:
    """Move `url` onto the API origin, keeping its path and query (for stored or internal URLs)."""
    parts = urlsplit(url)
    api = urlsplit(api_url)
    return urlunsplit((api.scheme, api.netloc, parts.path, parts.query, ""))


def classify_next(
    next_href: Any, api_url: str, page_url: str | None = None
) -> tuple[str, str | None]:
    """Decide what to do with a page's next_href.

    Returns ("end", None) for null, absent, empty or non-string; ("follow", url) for a URL on
    the API origin; ("moved", url) for one on SoundCloud's internal host, or on any other host
    but with the path of `page_url` (the list being read), moved onto the API origin with its
    path and query; ("foreign", url) otherwise. The token is only ever sent to the API origin,
    so a moved URL is asked of the API itself, never of the host it named.
    """
    if not isinstance(next_href, str) or not next_href.strip():
        return "end", None
    url = next_href.strip()
    parts = urlsplit(url)
    if origin(parts) == origin(api_url):
        return "follow", url
    host = (parts.hostname or "").lower()
    if parts.scheme in ("http", "https") and (
        host in INTERNAL_HOSTS or (page_url is not None and parts.path == urlsplit(page_url).path)
    ):
        return "moved", rebase(url, api_url)
    return "foreign", url


def parse_page(body: bytes) -> tuple[list[Any], Any]:
    """`(collection, next_href)` of a list response; a bare array (legacy) has no next page."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"malformed JSON ({exc})") from None
    if isinstance(data, list):
        return data, None
    if isinstance(data, dict) and isinstance(data.get("collection"), list):
        return data["collection"], data.get("next_href")
    raise ApiError("not a collection envelope")


def parse_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"malformed JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ApiError("not a JSON object")
    return data


def object_id(obj: Any) -> int | None:
    """The numeric id of an API object: `id`, else the number in its `urn`, else None."""
    if not isinstance(obj, dict):
        return None
    value = obj.get("id")
    if type(value) is int:  # not a bool (JSON's true/false), and the common case first
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    urn = obj.get("urn")
    if isinstance(urn, str):
        match = _URN_RE.match(urn)
        if match:
            return int(match.group(1))
    return None


def parse_tags(tag_list: Any) -> list[str]:
    """`electronic "deep house" a:b=c` → ["electronic", "deep house", "a:b=c"].

    Every tag, machine tags included: `split_machine_tags` sets those apart.
    """
    if not isinstance(tag_list, str):
        return []
    if '"' not in tag_list:
        return tag_list.split()  # no quoted tag: the rule's bare tags (3 tags: 0.15 µs, not 1.07)
    tags = []
    for quoted, bare in _TAGS_RE.findall(tag_list):
        tag = (quoted or bare).strip()
        if tag:
            tags.append(tag)
    return tags


# namespace:key=value (Flickr's machine tags, which SoundCloud adopted): a namespace that starts
# with a letter, a key, both of ASCII letters, digits, `_`, `.`, `-`; the value is everything
# after the first `=` and may not be empty.
_MACHINE_TAG_RE = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*:[A-Za-z0-9_.-]+)=(.+)", re.DOTALL)


def split_machine_tags(tags: list[str]) -> tuple[list[str], dict[str, str]]:
    """(user tags, {"namespace:key": value}) from `parse_tags`'s list.

    A tag that is not a whole `namespace:key=value` (`dj:mix`, `:x=1`, `a:b=`) stays a user
    tag, verbatim. When a key repeats, its last value wins (raw_json's tag_list keeps all).
    """
    user_tags: list[str] = []
    machine_tags: dict[str, str] = {}
    for tag in tags:
        match = _MACHINE_TAG_RE.fullmatch(tag) if "=" in tag else None
        if match:
            machine_tags[match.group(1)] = match.group(2)
        else:
            user_tags.append(tag)
    return user_tags, machine_tags


def parse_date(value: Any) -> str | None:
    """v1 `2019/01/15 15:40:49 +0000` or ISO 8601 → ISO 8601 UTC; anything else → None."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 25 and value.endswith(" +0000") and _V1_UTC_RE.match(value):
        # The common case, by slicing: strptime is a tenth of a harvest's CPU otherwise.
        return f"{value[0:4]}-{value[5:7]}-{value[8:10]}T{value[11:19]}Z"
    for fmt in ("%Y/%m/%d %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            parsed = datetime.strptime(value.replace("Z", "+0000"), fmt)
        except ValueError:
            continue
        return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None  # JSON's true and false are no counts


def _str(value: Any) -> str | None:
    return value if type(value) is str else None


# API keys a column holds, with the type the column keeps (track_rows, user_row). Such a key is
# left out of raw_json when its value is null or of that type: the column holds it, or a newer
# value. A value of another type (a title that is a number) stays in raw_json.
TRACK_COLUMN_KEYS: dict[str, type] = {
    "id": int, "urn": str, "title": str, "genre": str, "duration": int, "playback_count": int,
    "favoritings_count": int, "reposts_count": int, "comment_count": int, "permalink_url": str,
}  # fmt: skip
USER_COLUMN_KEYS: dict[str, type] = {
    "id": int, "urn": str, "username": str, "permalink_url": str, "followers_count": int,
    "followings_count": int, "track_count": int, "public_favorites_count": int, "city": str,
    "country": str,
}  # fmt: skip


def trim_object(obj: dict[str, Any], column_keys: dict[str, type], artist: bool = False) -> None:
    """Remove from `obj` what the row's columns hold (and, for a track, its artist with an id,
    who is a row of `users`): raw_json keeps the rest (schema 3)."""
    for key, kind in column_keys.items():
        if key in obj:
            value = obj[key]
            if value is None or type(value) is kind:
                del obj[key]
    if artist:
        user = obj.get("user")
        if isinstance(user, dict) and object_id(user) is not None:
            del obj["user"]


def _raw_json(obj: dict[str, Any], column_keys: dict[str, type], artist: bool = False) -> str:
    # Trimmed here, once, from the parsed object: the store would otherwise parse the JSON again.
    rest = dict(obj)
    trim_object(rest, column_keys, artist)
    return orjson.dumps(rest).decode()


def user_row(obj: dict[str, Any], user_id: int) -> User:
    return User(
        user_id=user_id,
        urn=_str(obj.get("urn")),
        username=_str(obj.get("username")),
        permalink_url=_str(obj.get("permalink_url")),
        followers_count=_int(obj.get("followers_count")),
        followings_count=_int(obj.get("followings_count")),
        track_count=_int(obj.get("track_count")),
        public_favorites_count=_int(obj.get("public_favorites_count")),
        city=_str(obj.get("city")),
        country=_str(obj.get("country")),
        created_at=parse_date(obj.get("created_at")),
        raw_json=_raw_json(obj, USER_COLUMN_KEYS),
    )


def track_rows(
    obj: dict[str, Any], track_id: int, *, with_artist: bool = True
) -> tuple[Track, User | None]:
    """The track's row and, when its nested `user` has an id (and is wanted), its artist's."""
    artist = obj.get("user")
    artist_id = object_id(artist)
    if artist_id is None:
        artist_id = _int(obj.get("user_id"))  # the legacy (pre-2021) shape
    likes = obj.get("favoritings_count")
    if likes is None:
        likes = obj.get("likes_count")
    user_tags, machine_tags = split_machine_tags(parse_tags(obj.get("tag_list")))
    track = Track(
        track_id=track_id,
        urn=_str(obj.get("urn")),
        title=_str(obj.get("title")),
        artist_id=artist_id,
        artist_name=_str(artist.get("username")) if isinstance(artist, dict) else None,
        genre=_str(obj.get("genre")),
        tags=orjson.dumps(user_tags).decode() if user_tags else "[]",
        machine_tags=orjson.dumps(machine_tags).decode() if machine_tags else "{}",
        duration_ms=_int(obj.get("duration")),
        playback_count=_int(obj.get("playback_count")),
        like_count=_int(likes),
        reposts_count=_int(obj.get("reposts_count")),
        comment_count=_int(obj.get("comment_count")),
        permalink_url=_str(obj.get("permalink_url")),
        created_at=parse_date(obj.get("created_at")),
        raw_json=_raw_json(obj, TRACK_COLUMN_KEYS, artist=True),
    )
    wanted = with_artist and isinstance(artist, dict) and artist_id is not None
    return track, user_row(artist, artist_id) if wanted else None


def playlist_row(obj: dict[str, Any], playlist_id: int) -> Playlist:
    """A playlist's row; `raw_json` keeps the object without `tracks` (rows of
    `playlist_tracks`) and without its owner when the owner has an id (a row of `users`)."""
    owner = obj.get("user")
    owner_id = object_id(owner)
    if owner_id is None:
        owner_id = _int(obj.get("user_id"))
    rest = {k: v for k, v in obj.items() if k != "tracks"}
    if owner_id is not None and isinstance(owner, dict):
        rest.pop("user", None)
    return Playlist(
        playlist_id=playlist_id,
        urn=_str(obj.get("urn")),
        title=_str(obj.get("title")),
        user_id=owner_id,
        track_count=_int(obj.get("track_count")),
        duration_ms=_int(obj.get("duration")),
        permalink_url=_str(obj.get("permalink_url")),
        created_at=parse_date(obj.get("created_at")),
        raw_json=orjson.dumps(rest).decode(),
    )


def resolve_location(headers_location: bytes | str | None, body: bytes) -> str | None:
    """Where a /resolve 302 points: the Location header, else `location` in the JSON body."""
    if headers_location:
        loc = headers_location.decode() if isinstance(headers_location, bytes) else headers_location
        return loc.strip() or None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    location = data.get("location") if isinstance(data, dict) else None
    return location.strip() if isinstance(location, str) and location.strip() else None


def resolved_kind(location: str) -> tuple[str, int | None]:
    """(`tracks`|`users`|`playlists`|other, id) from a resolve location URL."""
    segments = [s for s in urlsplit(location).path.split("/") if s]
    if len(segments) >= 2:
        kind, ident = segments[-2], segments[-1]
        match = _URN_RE.match(ident.replace("%3A", ":").replace("%3a", ":"))
        if match:
            return kind, int(match.group(1))
        if ident.isdigit():
            return kind, int(ident)
    return "unknown", None
