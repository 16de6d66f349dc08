"""HTTP: uploading images (`POST /v1/uploads`), serving them with their post's read rights, and
the component that keeps the store and purges what is gone.

Serving follows the HLS rule (docs/api.md): no `Authorization` header is needed for an image of
a public community's post, so `<img src>` works as it is; a members-only community's images need
a member's token, as the header or `?token=` (a browser's `<img>` cannot set headers). An upload
no post took yet is its owner's alone.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from live.auth.tokens import verify
from live.config import Settings
from live.errors import ApiError, ErrorCode as E, invalid
from live.http.api import Api, Ctx
from live.moderation.schemas import path_id
from live.services import Core
from live.uploads import service

log = logging.getLogger("live.uploads")

class UploadServices(Core, Protocol):
    """What the upload routes need of the node."""

    uploads: service.Uploads


api: Api[UploadServices] = Api("uploads")

# Room for the multipart framing around the file (boundaries, part headers, a few fields).
MULTIPART_OVERHEAD = 64 * 1024
CACHE_SECONDS = 300  # short: a post deleted or a community turned members-only is soon honoured


def body_limits(settings: Settings) -> dict[str, int]:
    """Request bodies larger than `LIVE_MAX_BODY_BYTES` this component accepts, by path."""
    return {"/v1/uploads": settings.upload_max_bytes + MULTIPART_OVERHEAD}


@api.post("/v1/uploads", status=201, content_type="multipart/form-data",
          errors=[E.PAYLOAD_TOO_LARGE, E.UNSUPPORTED_MEDIA_TYPE, E.INVALID_REQUEST, E.CONFLICT])
async def upload_image(ctx: Ctx[UploadServices, None, None]) -> dict[str, Any]:
    """Upload an image for a post: multipart/form-data with the file in the field `file`.

    JPEG, PNG or WebP (sniffed from the bytes), at most `LIVE_UPLOAD_MAX_BYTES` and 40 megapixels.
    It is re-encoded without its metadata (EXIF, GPS) and gets a thumbnail. Answers
    `{id, url, width, height, thumbnail_url, content_type}`; put the id in a post's `media_ids`.
    """
    data = await _file_of(ctx.request, ctx.services.settings.upload_max_bytes)
    result = await ctx.services.uploads.create(ctx.user.id, data)
    log.info("upload %s by %s (%d bytes in)", result["id"], ctx.user.id, len(data))
    return result


async def _file_of(request: Request, max_bytes: int) -> bytes:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(E.UNSUPPORTED_MEDIA_TYPE, "send multipart/form-data with the image in the field `file`")
    try:
        form = await request.form(max_files=1, max_fields=8, max_part_size=64 * 1024)
    except HTTPException as exc:  # the multipart parser's 400: malformed, or too many parts
        raise invalid({"file": str(exc.detail)}, "the multipart body could not be read") from None
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise invalid({"file": "required: the image, as a file part"})
        data = await file.read(max_bytes + 1)
    finally:
        await form.close()
    if len(data) > max_bytes:
        raise ApiError(E.PAYLOAD_TOO_LARGE, f"an image has at most {max_bytes} bytes")
    return data


@api.delete("/v1/uploads/{uid}", status=204, errors=[E.NOT_FOUND, E.CONFLICT])
async def delete_upload(ctx: Ctx[UploadServices, None, None]) -> None:
    """Delete one of your uploads that no post took (images in a post go with the post)."""
    async with ctx.services.db.session() as session:
        await service.discard(session, path_id(ctx, "uid", "upload"), ctx.user.id)
    ctx.services.uploads.purge_soon()


@api.get("/v1/uploads/{uid}", auth=False, errors=[E.NOT_FOUND, E.UNAUTHORIZED])
async def get_image(ctx: Ctx[UploadServices, None, None]) -> Response:
    """The image, with its post's read rights (members-only communities: a member's token, as the
    header or `?token=`); its owner may always fetch it."""
    return await _serve(ctx, "image")


@api.get("/v1/uploads/{uid}/thumbnail", auth=False, errors=[E.NOT_FOUND, E.UNAUTHORIZED])
async def get_thumbnail(ctx: Ctx[UploadServices, None, None]) -> Response:
    """The image's thumbnail (at most 320 x 320), with the same rights as the image."""
    return await _serve(ctx, "thumbnail")


async def _serve(ctx: Ctx[UploadServices, None, None], variant: str) -> Response:
    upload_id = path_id(ctx, "uid", "image")
    token = _token_of(ctx.request)
    user_id = None
    if token is not None:
        settings = ctx.services.settings
        user_id = verify(settings.secret or "", token, leeway=settings.token_leeway_seconds).id
    async with ctx.services.db.session() as session:
        upload, public = await service.readable(session, upload_id, user_id)
    etag = f'"{upload.id}-{variant}"'
    scope = "public" if public and token is None else "private"
    headers = {
        "Cache-Control": f"{scope}, max-age={CACHE_SECONDS}",
        "ETag": etag,
        # The bytes are an image we encoded; never let a browser guess otherwise or run anything.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": "inline",
        "Access-Control-Allow-Origin": "*",
    }
    if ctx.request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    data = await ctx.services.uploads.store.get(service.key(upload.id, variant))
    if data is None:
        raise ApiError(E.NOT_FOUND, "no such image")
    media_type = upload.content_type if variant == "image" else upload.thumb_content_type
    return Response(data, media_type=media_type, headers=headers)


def _token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token") or None
