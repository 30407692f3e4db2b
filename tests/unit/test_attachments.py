"""Files read as text: which are accepted, encodings, PDFs, and what is refused."""

from __future__ import annotations

import io

import pypdf
import pytest

from services.chat.attachments import (
    MAX_DOCUMENT_BYTES,
    AttachmentError,
    BoundedBuffer,
    DownloadTooBigError,
    check_document,
    decode_text,
    document_text,
    kind_of,
    with_file,
)


def text_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds `lines` (ASCII, Helvetica), as a writer
    makes them: objects, a cross-reference table with their offsets, a trailer."""
    shown = " ".join(f"({line}) Tj 0 -14 Td" for line in lines)
    stream = f"BT /F1 12 Tf 20 120 Td {shown} ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    return out + trailer.encode()


def blank_pdf(password: str | None = None) -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(200, 200)
    if password:
        writer.encrypt(password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "mime", "kind"),
    [
        ("report.pdf", "application/pdf", "pdf"),
        ("scan", "application/pdf", "pdf"),
        ("notes.txt", "text/plain", "text"),
        ("main.py", "text/x-python", "text"),
        ("data.json", "application/json", "text"),
        ("app.tsx", "application/octet-stream", "text"),  # by the extension
        ("Dockerfile", None, "text"),
        ("photo.jpg", "image/jpeg", None),
        ("setup.exe", "application/x-msdownload", None),
        ("archive.zip", "application/zip", None),
        (None, None, None),
    ],
)
def test_which_files_are_read(name: str | None, mime: str | None, kind: str | None) -> None:
    assert kind_of(name, mime) == kind


def test_refusals_before_downloading() -> None:
    with pytest.raises(AttachmentError) as error:
        check_document("setup.exe", "application/x-msdownload", 100)
    assert error.value.text_key == "file_unsupported"
    with pytest.raises(AttachmentError) as error:
        check_document("big.txt", "text/plain", MAX_DOCUMENT_BYTES + 1)
    assert error.value.text_key == "file_too_big"
    assert check_document("ok.txt", "text/plain", MAX_DOCUMENT_BYTES) == "text"


def test_encodings_russian_files_come_in() -> None:
    text = "Привет! Отчёт за ноябрь: выручка выросла, расходы снизились, маржа 42 %."
    assert decode_text(text.encode("utf-8")) == text
    assert decode_text(b"\xef\xbb\xbf" + text.encode("utf-8")) == text  # BOM dropped
    assert decode_text(text.encode("cp1251")) == text  # Windows-1251, as Notepad saves
    assert decode_text(text.encode("utf-16")) == text


def test_binary_data_with_a_text_name_is_refused() -> None:
    with pytest.raises(AttachmentError) as error:
        document_text("data.txt", "text/plain", b"\x00\x01\x02\x03ELF\x00\x00" * 100)
    assert error.value.text_key == "file_unsupported"


def test_pdf_text_layer_is_read() -> None:
    data = text_pdf(["Quarterly report", "Revenue grew by 12 percent"])
    text = document_text("report.pdf", "application/pdf", data)
    assert "Quarterly report" in text and "Revenue grew by 12 percent" in text


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.4 fake", "unreadable"),  # damaged
        (blank_pdf(password="secret"), "unreadable"),  # a password we do not know
        (blank_pdf(), "empty"),  # a scan: pages without a text layer
    ],
)
def test_pdfs_that_give_no_text(data: bytes, reason: str) -> None:
    with pytest.raises(AttachmentError) as error:
        document_text("doc.pdf", "application/pdf", data)
    assert error.value.text_key == f"file_{reason}"


def test_whitespace_only_file_is_empty_and_line_ends_are_normalised() -> None:
    with pytest.raises(AttachmentError) as error:
        document_text("blank.txt", "text/plain", b"  \r\n\r\n ")
    assert error.value.text_key == "file_empty"
    assert document_text("a.csv", "text/csv", b"a,b\r\n1,2\r\n") == "a,b\n1,2"


def test_the_request_names_the_file_under_the_caption() -> None:
    assert with_file("Перескажи кратко", "notes.txt", "текст") == (
        "Перескажи кратко\n\n📎 notes.txt\n```\nтекст\n```"
    )
    assert with_file("  ", None, "x") == "📎 file\n```\nx\n```"


def test_a_download_stops_past_its_bound() -> None:
    """A file Telegram gave no size for is read no further than the bound: the write
    that would pass it raises, which ends the download."""
    buffer = BoundedBuffer(100)
    for _ in range(10):
        buffer.write(b"x" * 10)
    with pytest.raises(DownloadTooBigError):
        buffer.write(b"x")
    assert buffer.getvalue() == b"x" * 100  # nothing past the bound was kept
    with pytest.raises(DownloadTooBigError):
        BoundedBuffer(10).write(memoryview(b"y" * 11))
