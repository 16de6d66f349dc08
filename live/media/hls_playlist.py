"""HLS media playlists as data: what the writer renders, what the app nodes read back.

Pure functions, no I/O. The writer (live.media.hls) keeps `Segment`s and renders the live
playlist after every part; it appends each finished segment's lines to an append-only log from
which the VOD playlist is made (`render_vod`), so a live's whole history survives even a media
process that dies without finishing it. App nodes read a playlist's position back
(`read_position`) to answer blocking playlist reloads (`_HLS_msn` / `_HLS_part`).

Names on disk and in playlists: `init{g}.mp4` (the init segment of generation g: a new one, with
`EXT-X-DISCONTINUITY`, whenever the host republishes or changes its codec settings),
`s{msn}.m4s` (a whole segment), `p{msn}.{i}.m4s` (part i of segment msn, LL-HLS).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re

VERSION = 6  # EXT-X-MAP in a media playlist of full segments needs 6
NAME = re.compile(r"^(?:index\.m3u8|init\d{1,6}\.mp4|s\d{1,9}\.m4s|p\d{1,9}\.\d{1,3}\.m4s)$")


@dataclasses.dataclass(slots=True)
class Part:
    msn: int
    index: int
    duration: float
    independent: bool

    @property
    def uri(self) -> str:
        return f"p{self.msn}.{self.index}.m4s"


@dataclasses.dataclass(slots=True)
class Segment:
    msn: int
    generation: int
    pdt: float  # unix time of its first frame
    duration: float = 0.0
    parts: list[Part] = dataclasses.field(default_factory=list)
    complete: bool = False

    @property
    def uri(self) -> str:
        return f"s{self.msn}.m4s"


def init_uri(generation: int) -> str:
    return f"init{generation}.mp4"


def iso(unix: float) -> str:
    """EXT-X-PROGRAM-DATE-TIME's form: UTC with milliseconds."""
    moment = dt.datetime.fromtimestamp(unix, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def target_duration(durations: list[float], floor: float) -> int:
    """EXT-X-TARGETDURATION: every EXTINF rounded to the nearest integer must fit under it."""
    longest = max(durations, default=0.0)
    return max(1, math.ceil(floor), int(longest + 0.5))


def segment_lines(segment: Segment, previous_generation: int | None) -> str:
    """A finished segment's lines, as both the live playlist and the VOD log carry them."""
    lines = []
    if previous_generation is not None and segment.generation != previous_generation:
        lines.append("#EXT-X-DISCONTINUITY")
    if previous_generation is None or segment.generation != previous_generation:
        lines.append(f'#EXT-X-MAP:URI="{init_uri(segment.generation)}"')
    lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{iso(segment.pdt)}")
    lines.append(f"#EXTINF:{segment.duration:.3f},")
    lines.append(segment.uri)
    return "\n".join(lines) + "\n"


def _part_lines(segment: Segment) -> list[str]:
    return [
        f'#EXT-X-PART:DURATION={p.duration:.3f},URI="{p.uri}"' + (",INDEPENDENT=YES" if p.independent else "")
        for p in segment.parts
    ]


def render_live(
    window: list[Segment],
    *,
    target: int,
    part_target: float,
    discontinuity_sequence: int,
    part_segments: int = 3,
) -> str:
    """The live playlist of `window` (oldest first; the last may be the segment being built).

    Parts are listed for the segment being built and the last `part_segments` finished ones
    (LL-HLS asks for at least the last three target durations). `part_target` 0: no parts.
    """
    first = window[0].msn if window else 0
    out = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{VERSION}",
        f"#EXT-X-TARGETDURATION:{target}",
    ]
    control = f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,HOLD-BACK={3 * target:.1f}"
    if part_target > 0:
        out.append(f"#EXT-X-PART-INF:PART-TARGET={part_target:.3f}")
        control += f",PART-HOLD-BACK={3 * part_target:.3f}"
    out.append(control)
    out.append(f"#EXT-X-MEDIA-SEQUENCE:{first}")
    out.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}")
    finished = [s for s in window if s.complete]
    with_parts = {s.msn for s in finished[-part_segments:]}
    previous: int | None = None
    text = "\n".join(out) + "\n"
    body = []
    for segment in window:
        if not segment.complete:
            if part_target > 0 and segment.parts:
                if previous is not None and segment.generation != previous:
                    body.append("#EXT-X-DISCONTINUITY\n")
                if previous is None or segment.generation != previous:
                    body.append(f'#EXT-X-MAP:URI="{init_uri(segment.generation)}"\n')
                body.append(f"#EXT-X-PROGRAM-DATE-TIME:{iso(segment.pdt)}\n")
                body.append("\n".join(_part_lines(segment)) + "\n")
            break
        if part_target > 0 and segment.msn in with_parts:
            lines = segment_lines(segment, previous).splitlines()
            # the parts go just before the segment's EXTINF, after its MAP / DATE-TIME tags
            at = next(i for i, line in enumerate(lines) if line.startswith("#EXTINF"))
            lines[at:at] = _part_lines(segment)
            body.append("\n".join(lines) + "\n")
        else:
            body.append(segment_lines(segment, previous))
        previous = segment.generation
    return text + "".join(body)


_EXTINF = re.compile(r"^#EXTINF:([0-9.]+),", re.M)


def render_vod(log: str) -> str:
    """The VOD playlist of a whole live from its segment log (whole entries only)."""
    entries = _complete_entries(log)
    durations = [float(m) for m in _EXTINF.findall(entries)]
    return (
        "#EXTM3U\n"
        f"#EXT-X-VERSION:{VERSION}\n"
        f"#EXT-X-TARGETDURATION:{target_duration(durations, 1)}\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        f"{entries}"
        "#EXT-X-ENDLIST\n"
    )


def _complete_entries(log: str) -> str:
    """The log up to its last segment URI line (a write cut short by a crash is left out)."""
    end = 0
    for match in re.finditer(r"^s\d+\.m4s\n", log, re.M):
        end = match.end()
    return log[:end]


@dataclasses.dataclass(frozen=True, slots=True)
class Position:
    """How far a playlist has got: `next_msn` is being built and has `parts` parts listed."""

    next_msn: int
    parts: int
    ended: bool

    def has(self, msn: int, part: int | None) -> bool:
        """Whether a blocking reload for (`msn`, `part`) can be answered with this playlist."""
        if self.ended or msn < self.next_msn:
            return True
        return part is not None and msn == self.next_msn and part < self.parts

    def too_far(self, msn: int) -> bool:
        """A request more than one segment past the one being built can only be a client error."""
        return not self.ended and msn > self.next_msn + 1


_SEQ = re.compile(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)", re.M)


def read_position(text: str) -> Position:
    match = _SEQ.search(text)
    finished = parts = 0
    for line in text.splitlines():
        if line.startswith("#EXT-X-PART:"):
            parts += 1
        elif line.startswith("#EXTINF:"):
            finished += 1
            parts = 0  # the parts listed so far belonged to this finished segment
    return Position((int(match.group(1)) if match else 0) + finished, parts, "#EXT-X-ENDLIST" in text)
