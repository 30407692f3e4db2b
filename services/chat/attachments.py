"""Files a user sends, read as text for the model: plain-text files of any encoding, PDFs.

Nothing here knows Telegram: a file is its name, MIME type and bytes. The text is
wrapped with the file's name, so the model knows where it starts and ends, and the
chat pipeline takes it like any typed question (limits, quotas and memory included).
"""

from __future__ import annotations

import io
import logging
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from services.errors import UserFacingError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

logger = logging.getLogger(__name__)

# Telegram lets bots download files up to 20 MB; reading text needs far less.
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_PDF_PAGES = 300
TEXT_EXTENSIONS = (  # besides any text/* MIME type
    "txt md markdown rst csv tsv json jsonl xml html htm yaml yml toml ini cfg conf log sql "
    "py ipynb js mjs ts tsx jsx css scss java kt kts swift c h cc cpp hpp cs go rs rb php pl "
    "lua r m scala dart sh bash zsh ps1 bat tex srt vtt diff patch gradle proto graphql vue"
)
TEXT_SUFFIXES = frozenset(f".{extension}" for extension in TEXT_EXTENSIONS.split())
TEXT_MIME_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/x-yaml",
        "application/yaml",
        "application/javascript",
        "application/x-sh",
        "application/sql",
        "application/x-subrip",
    }
)
PDF_MIME = "application/pdf"


class DownloadTooBigError(Exception):
    """A download went past its bound (`BoundedBuffer.limit` bytes) and was stopped."""


class BoundedBuffer(io.BytesIO):
    """A download's destination that takes at most `limit` bytes: past them, writing
    raises DownloadTooBigError, which ends the download (for files whose size Telegram
    does not tell, or tells wrong)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: ReadableBuffer, /) -> int:
        if self.tell() + memoryview(data).nbytes > self.limit:
            raise DownloadTooBigError(self.limit)
        return super().write(data)


class AttachmentError(UserFacingError):
    """A file that cannot be read as text; its text key says why: too big, of a kind
    this bot does not read, empty (no text inside, e.g. a scan), unreadable (damaged or
    encrypted), or not downloaded from Telegram."""

    TEXT_KEYS = frozenset(
        {
            "file_too_big",
            "file_unsupported",
            "file_empty",
            "file_unreadable",
            "file_download_failed",
        }
    )


def kind_of(file_name: str | None, mime_type: str | None) -> str | None:
    """ "pdf", "text", or None for a file this bot cannot read."""
    name = (file_name or "").lower()
    suffix = PurePosixPath(name).suffix
    mime = (mime_type or "").lower()
    if mime == PDF_MIME or suffix == ".pdf":
        return "pdf"
    if mime.startswith("text/") or mime in TEXT_MIME_TYPES or suffix in TEXT_SUFFIXES:
        return "text"
    if name in ("dockerfile", "makefile", "readme", "license"):
        return "text"
    return None


def check_document(file_name: str | None, mime_type: str | None, size: int | None) -> str:
    """Before downloading: the file's kind, or AttachmentError."""
    kind = kind_of(file_name, mime_type)
    if kind is None:
        raise AttachmentError("file_unsupported")
    if size is not None and size > MAX_DOCUMENT_BYTES:
        raise AttachmentError("file_too_big")
    return kind


def document_text(file_name: str | None, mime_type: str | None, data: bytes) -> str:
    """The file's text (CPU-bound for PDFs: run it in a worker thread)."""
    kind = check_document(file_name, mime_type, len(data))
    text = pdf_text(data) if kind == "pdf" else decode_text(data)
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise AttachmentError("file_empty")
    return text


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else the encoding charset-normalizer finds
    (Windows-1251 and KOI8-R files are common here); binary data is refused."""
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise AttachmentError("file_unsupported")  # a binary file with a text-like name
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    import charset_normalizer  # here, not at start-up: most files are UTF-8

    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise AttachmentError("file_unsupported")
    return str(best)


def pdf_text(data: bytes) -> str:
    """The text layer of a PDF's pages (a scan without one gives "")."""
    import pypdf  # here, not at start-up: it brings Pillow and fontTools (≈0.2 s)
    from pypdf.errors import PyPdfError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise AttachmentError("file_unreadable")
        pages = reader.pages[:MAX_PDF_PAGES]
        return "\n\n".join(page.extract_text() or "" for page in pages)
    except AttachmentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as error:
        logger.info("Unreadable PDF: %s", error)
        raise AttachmentError("file_unreadable") from error


def with_file(caption: str, file_name: str | None, text: str) -> str:
    """The request the model gets: the user's caption, then the file marked by its name."""
    name = file_name or "file"
    block = f"📎 {name}\n```\n{text}\n```"
    return f"{caption.strip()}\n\n{block}" if caption.strip() else block
