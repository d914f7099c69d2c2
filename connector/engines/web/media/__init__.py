"""WhatsApp media for the web engine: the crypto of attachments and blobs, and the media hosts' client.

For a send (what `send_media` builds on):

    hosts = MediaHosts(conn.query, verify=client_context(settings.ca_file), proxy=...)   # one per connection
    uploaded = await hosts.upload(Path("photo.jpg") | b"..." | async_chunks, MediaKind.IMAGE)
    wa.Message(imageMessage=wa.Message.ImageMessage(
        url=uploaded.url, directPath=uploaded.direct_path, mediaKey=uploaded.encrypted.media_key,
        fileSha256=uploaded.encrypted.file_sha256, fileEncSha256=uploaded.encrypted.file_enc_sha256,
        fileLength=uploaded.encrypted.file_length, mimetype=..., ...))

For a receive:

    ref = MediaRef.from_message(message.imageMessage)        # key, directPath/url, hashes, length
    await hosts.download_to_path(ref, MediaKind.IMAGE, path)  # written only when MAC and hashes check out
    # or: await hosts.download(ref, kind, sink) to stream into your own sink (discard it on any error)

Kinds: IMAGE, VIDEO, AUDIO, DOCUMENT, STICKER (image keys), PTT (voice note: audio keys), GIF/PTV (video
keys), thumbnails, HISTORY (history sync), APP_STATE. Pure crypto without I/O: `MediaEncryptor`,
`MediaDecryptor` (chunked), `encrypt_media` / `decrypt_media` (whole, small), `expand_media_key`.
Errors: MediaIntegrityError (a check failed), MediaRefused (4xx), MediaTransferError (transient).
"""

from connector.engines.web.media.crypto import (
    EncryptedMedia,
    Expected,
    MediaDecryptor,
    MediaEncryptor,
    MediaIntegrityError,
    MediaKeys,
    MediaKind,
    decrypt_media,
    encrypt_media,
    encrypted_length,
    expand_media_key,
    new_media_key,
)
from connector.engines.web.media.hosts import (
    MediaConn,
    MediaHosts,
    MediaRef,
    MediaRefused,
    MediaTransferError,
    UploadedMedia,
    encrypt_into,
    media_conn_query,
    parse_media_conn,
)

__all__ = [
    "EncryptedMedia",
    "Expected",
    "MediaConn",
    "MediaDecryptor",
    "MediaEncryptor",
    "MediaHosts",
    "MediaIntegrityError",
    "MediaKeys",
    "MediaKind",
    "MediaRef",
    "MediaRefused",
    "MediaTransferError",
    "UploadedMedia",
    "decrypt_media",
    "encrypt_into",
    "encrypt_media",
    "encrypted_length",
    "expand_media_key",
    "media_conn_query",
    "new_media_key",
    "parse_media_conn",
]
