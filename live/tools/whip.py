"""Publish the test pattern and a tone to a live over WHIP with FFmpeg's own WHIP muxer (in PyAV).

    python -m live.tools.whip --url http://127.0.0.1:8080 --token T --live LID [--seconds 30]

H.264 (libx264, constrained baseline, no B-frames) and Opus, as the muxer requires. FFmpeg's
gnutls build generates a P-224 DTLS key that OpenSSL refuses, so this tool always hands the muxer
a P-256 certificate of its own (`cert_file` / `key_file`); do the same with the ffmpeg CLI:

    ffmpeg -re -i in.mp4 -c:v libx264 -profile:v baseline -bf 0 -c:a libopus -ar 48000 -ac 2 \\
      -f whip -authorization "$TOKEN" -cert_file cert.pem -key_file key.pem \\
      http://127.0.0.1:8080/v1/live/$LID/whip
"""

from __future__ import annotations

import argparse
import datetime as dt
import fractions
import math
import struct
import sys
import tempfile
import time
from pathlib import Path

import av


def make_p256_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed P-256 certificate and key (PEM) for the muxer's DTLS."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "live-whip")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "whip-cert.pem", directory / "whip-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                          serialization.NoEncryption())
    )
    return cert_path, key_path


def publish(endpoint: str, token: str, seconds: float, size: tuple[int, int] = (320, 180), fps: int = 30) -> int:
    """Send `seconds` of pattern and tone to a WHIP endpoint, paced in real time. Blocking.
    Returns the number of video frames sent."""
    width, height = size
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_p256_certificate(Path(tmp))
        options = {"authorization": token, "cert_file": str(cert), "key_file": str(key),
                   "handshake_timeout": "10000"}
        out = av.open(endpoint, "w", format="whip", options=options)
        try:
            video = out.add_stream("libx264", rate=fps, options={
                "profile": "baseline", "preset": "ultrafast", "tune": "zerolatency",
                "bf": "0", "g": str(fps), "x264-params": "repeat-headers=1",
            })
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            audio = out.add_stream("libopus", rate=48000)
            audio.layout = "stereo"
            tone = struct.pack("<1920h", *(int(6000 * math.sin(2 * math.pi * 440 * (i // 2) / 48000))
                                           for i in range(1920)))
            start = time.monotonic()
            frames = 0
            apts = 0
            row = bytes((x * 255 // width) & 0xFF for x in range(width)) * 2
            while frames < seconds * fps:
                target = start + frames / fps
                if (delay := target - time.monotonic()) > 0:
                    time.sleep(delay)
                frame = av.VideoFrame(width, height, "yuv420p")
                k = (frames * 3) % width
                luma = row[k : k + width] * height
                planes = (luma, bytes([96]) * (width * height // 4), bytes([160]) * (width * height // 4))
                for plane, data in zip(frame.planes, planes, strict=True):
                    if plane.line_size == plane.width:
                        plane.update(data)
                    else:
                        pad = b"\x00" * (plane.line_size - plane.width)
                        w = plane.width
                        plane.update(b"".join(data[i * w : (i + 1) * w] + pad for i in range(plane.height)))
                frame.pts = frames
                frame.time_base = fractions.Fraction(1, fps)
                for packet in video.encode(frame):
                    out.mux(packet)
                # audio up to the video's time, 20 ms at a time
                while apts < (frames + 1) * 48000 // fps:
                    af = av.AudioFrame(format="s16", layout="stereo", samples=960)
                    af.planes[0].update(tone[: 960 * 4])
                    af.sample_rate = 48000
                    af.pts = apts
                    af.time_base = fractions.Fraction(1, 48000)
                    apts += 960
                    for packet in audio.encode(af):
                        out.mux(packet)
                frames += 1
            return frames
        finally:
            out.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live.tools.whip", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--token", required=True)
    parser.add_argument("--live", required=True, help="the live's id")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    endpoint = f"{args.url.rstrip('/')}/v1/live/{args.live}/whip"
    try:
        sent = publish(endpoint, args.token, args.seconds)
    except (av.FFmpegError, OSError) as exc:
        print(f"WHIP publishing failed: {exc}", file=sys.stderr)
        return 1
    print(f"sent {sent} video frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
