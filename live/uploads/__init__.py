"""Images in posts: upload, validation, re-encoding, thumbnails, storage and serving."""
