"""Checking and re-encoding an uploaded image with Pillow: pure, bytes in, clean bytes out.

An upload is untrusted input to an image decoder, the classic place for a decompression bomb or
a file that is something else under an image's name. In order:

1. The type is sniffed from the bytes (`Image.open(..., formats=...)` tries only the JPEG, PNG
   and WebP decoders, each of which checks its signature); the name and the declared type are
   ignored. Anything else is 415 `unsupported_media_type`.
2. `Image.open` reads only the header: the pixel count is checked there, before one pixel is
   decoded. Over `MAX_PIXELS` (40 megapixels) is 413 `payload_too_large`: a 50,000 x 50,000 PNG
   of a few hundred kilobytes would need gigabytes once decoded. Pillow's own guard
   (`Image.MAX_IMAGE_PIXELS`, set to the same number) backs this up.
3. The image is decoded (a truncated or corrupt file is 422 `invalid_request`), turned upright
   from its EXIF orientation, and re-encoded from its pixels alone into a new file of the same
   format: EXIF (GPS position, camera, time), XMP, comments and text chunks are not carried
   over. The ICC colour profile is kept, so colours do not shift. Animated images keep their
   first frame.
4. A thumbnail (at most `THUMB_SIZE`) is made from the clean image.

The work is CPU-bound: `process` runs in a worker thread (`live.uploads.service`).
"""

from __future__ import annotations

import dataclasses
import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from live.errors import ApiError, ErrorCode, invalid

MAX_PIXELS = 40_000_000
THUMB_SIZE = (320, 320)
FORMATS: dict[str, str] = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

# Pillow's process-wide guard: it warns past this many pixels and refuses at twice as many.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclasses.dataclass(frozen=True, slots=True)
class Encoded:
    data: bytes
    content_type: str
    width: int
    height: int


@dataclasses.dataclass(frozen=True, slots=True)
class Processed:
    """A clean image and its thumbnail."""

    image: Encoded
    thumbnail: Encoded


def _unsupported() -> ApiError:
    return ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "only JPEG, PNG and WebP images are accepted")


def _too_many_pixels(width: int, height: int, max_pixels: int) -> ApiError:
    return ApiError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"an image has at most {max_pixels / 1e6:g} megapixels ({width} x {height} given)",
    )


def _corrupt(detail: str) -> ApiError:
    return invalid({"file": detail}, "the image could not be decoded: it is truncated or corrupt")


def process(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Processed:
    """Check and re-encode an uploaded image, or raise the ApiError that refuses it."""
    if not data:
        raise invalid({"file": "empty"}, "the file is empty")
    with warnings.catch_warnings():
        # Past MAX_IMAGE_PIXELS Pillow only warns (it refuses at twice as many): refuse at once.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            opened = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except UnidentifiedImageError:
            raise _unsupported() from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE,
                           f"an image has at most {max_pixels / 1e6:g} megapixels") from None
        except Exception as exc:  # noqa: BLE001 - a header that breaks a decoder: corrupt input
            raise _corrupt(f"unreadable header ({exc.__class__.__name__})") from None
        with opened as img:
            if img.format not in FORMATS:
                raise _unsupported()
            width, height = img.size
            if width < 1 or height < 1:
                raise _corrupt("no pixels")
            if width * height > max_pixels:
                raise _too_many_pixels(width, height, max_pixels)
            try:
                img.seek(0)  # animated: the first frame
                img.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise _too_many_pixels(width, height, max_pixels) from None
            except Exception as exc:  # noqa: BLE001 - truncated data, broken chunks...
                raise _corrupt(str(exc)[:200] or exc.__class__.__name__) from None
            fmt = str(img.format)
            icc = img.info.get("icc_profile")
            clean = _upright(img)
    clean = _normalized(clean, fmt)
    image = _encode(clean, fmt, icc)
    thumb = clean.copy()
    thumb.thumbnail(THUMB_SIZE, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return Processed(image=image, thumbnail=_encode(thumb, fmt, icc))


def _upright(img: Image.Image) -> Image.Image:
    """The pixels turned as the EXIF orientation says (a phone photo stays upright without EXIF)."""
    try:
        turned = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - unreadable EXIF: keep the pixels as stored
        turned = None
    return turned if turned is not None else img.copy()


def _normalized(img: Image.Image, fmt: str) -> Image.Image:
    """A copy in a mode the output format writes, with no metadata at all in `info`."""
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if fmt == "JPEG":
        out = img if img.mode in ("RGB", "L") else img.convert("RGB")
    elif fmt == "PNG":
        out = img if img.mode in ("RGB", "RGBA", "L", "LA") else img.convert("RGBA" if has_alpha else "RGB")
    else:  # WEBP
        out = img if img.mode in ("RGB", "RGBA") else img.convert("RGBA" if has_alpha else "RGB")
    out = out.copy() if out is img else out
    out.info = {}
    return out


def _encode(img: Image.Image, fmt: str, icc: bytes | None) -> Encoded:
    options: dict[str, object] = {}
    if icc:
        options["icc_profile"] = icc
    if fmt == "JPEG":
        options.update(quality=85, optimize=True)
    elif fmt == "WEBP":
        options.update(quality=85, method=4)
    else:
        options.update(compress_level=6)
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return Encoded(buffer.getvalue(), FORMATS[fmt], img.width, img.height)
