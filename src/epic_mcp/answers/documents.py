"""A clinical note's text: DocumentReference -> attachment (inline data, or a Binary on the same FHIR server),
converted from HTML, RTF or plain text to clean text, within a stated size cap."""

from __future__ import annotations

import asyncio
import base64
import binascii
import html
import re
from datetime import date
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..errors import EpicMcpError, FhirError, FhirErrorKind
from ..render import UNTRUSTED
from .collect import newest_first, scan

if TYPE_CHECKING:
    from ..fhir.client import FhirClient

DEFAULT_MAX_CHARS = 20_000
PREFERRED_TYPES = ("text/plain", "text/html", "application/xhtml+xml", "text/rtf", "application/rtf")
BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre",
              "section", "article", "header", "footer", "blockquote"}


class DocumentText(BaseModel):
    document_id: str
    title: str | None
    date: str | None
    content_type: str | None = Field(description="The attachment's type before conversion to text.")
    characters: int = Field(description="Length of the whole converted text.")
    start: int = Field(0, description="Index of the first character returned.")
    truncated: bool = Field(description="True when text follows what is returned (continue with start_char).")
    text: dict[str, str] = Field(description="{'patient_text': ...}: the note's text, data from the record.")


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextOfHtml()
    parser.feed(markup)
    parser.close()
    return html.unescape("".join(parser.parts))


def clean(text: str) -> str:
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def to_text(content: bytes, content_type: str | None) -> str:
    kind = (content_type or "text/plain").split(";")[0].strip().lower()
    charset = re.search(r"charset=([\w-]+)", content_type or "")
    try:
        decoded = content.decode(charset.group(1) if charset else "utf-8")
    except (UnicodeDecodeError, LookupError):
        decoded = content.decode("latin-1")
    if kind in ("text/html", "application/xhtml+xml") or decoded.lstrip().lower().startswith(("<html", "<!doctype")):
        return clean(html_to_text(decoded))
    if kind in ("text/rtf", "application/rtf") or decoded.lstrip().startswith("{\\rtf"):
        from striprtf.striprtf import rtf_to_text  # only RTF notes need it; start-up does not

        return clean(rtf_to_text(decoded, errors="ignore"))
    return clean(decoded)


def _attachments(document: dict[str, Any]) -> list[dict[str, Any]]:
    content = document.get("content")
    items = [c.get("attachment") for c in content if isinstance(c, dict)] if isinstance(content, list) else []
    found: list[dict[str, Any]] = [a for a in items if isinstance(a, dict) and ("data" in a or "url" in a)]

    def rank(attachment: dict[str, Any]) -> int:
        kind = str(attachment.get("contentType", "")).split(";")[0].lower()
        return PREFERRED_TYPES.index(kind) if kind in PREFERRED_TYPES else len(PREFERRED_TYPES)

    return sorted(found, key=rank)


async def document_text(fhir: FhirClient, document_id: str, max_chars: int = DEFAULT_MAX_CHARS, start: int = 0,
                        max_bytes: int | None = None) -> DocumentText:
    return await note_text(fhir, await fhir.read("DocumentReference", document_id), max_chars, start, max_bytes)


async def note_text(fhir: FhirClient, document: dict[str, Any], max_chars: int, start: int = 0,
                    max_bytes: int | None = None) -> DocumentText:
    """The text of a DocumentReference already read: `max_chars` characters from `start`, and no more than
    `max_bytes` of UTF-8 (the share of the answer budget this text may use)."""
    document_id = str(document.get("id"))
    attachments = _attachments(document)
    if not attachments:
        raise FhirError(FhirErrorKind.NOT_FOUND, "this document has no attachment with content or a URL")
    attachment = attachments[0]
    content_type = attachment.get("contentType")
    if "data" in attachment:
        try:
            content = base64.b64decode(attachment["data"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise FhirError(FhirErrorKind.INVALID_RESPONSE, "the attachment's inline data is not base64") from None
    else:
        import httpx  # first use after start (see paging.CursorCodec)

        url = httpx.URL(fhir.base_url + "/").join(str(attachment["url"]))
        if not fhir.contains(url):
            raise FhirError(FhirErrorKind.REFUSED, "the note's content is on another server; it was not fetched "
                                                   "(the access token only goes to the configured FHIR server)")
        content, served_type = await fhir.fetch_binary(url)
        content_type = content_type or served_type
    text = to_text(content, content_type)
    piece = text[start:start + max_chars]
    if max_bytes is not None and len(piece.encode()) > max_bytes:
        piece = piece.encode()[:max_bytes].decode(errors="ignore")
    return DocumentText(
        document_id=document_id, title=attachment.get("title") or _type_text(document),
        date=document.get("date") or attachment.get("creation"), content_type=content_type,
        characters=len(text), start=min(start, len(text)), truncated=start + len(piece) < len(text),
        text={UNTRUSTED: piece},
    )


def _type_text(document: dict[str, Any]) -> str | None:
    kind = document.get("type")
    if not isinstance(kind, dict):
        return None
    codings = kind.get("coding") or [{}]
    return kind.get("text") or (codings[0].get("display") if isinstance(codings[0], dict) else None)


def document_text_rendering(result: DocumentText) -> str:
    end = result.start + len(result.text[UNTRUSTED])
    if result.truncated:
        cap = f"; characters {result.start + 1}-{end} of {result.characters} (get_document_text with " \
              f"start_char={end} continues)"
    elif result.start >= result.characters > 0:
        cap = f"; nothing from character {result.start + 1}: the text has {result.characters}"
    else:
        cap = f"; characters {result.start + 1}-{end} of {result.characters}, the end" if result.start else ""
    head = f"DocumentReference/{result.document_id}: {result.title or 'untitled'}, {result.date or 'undated'}, " \
           f"from {result.content_type or 'unknown type'}{cap}"
    return f"{head}\n<patient-text>\n{result.text[UNTRUSTED]}\n</patient-text>"


class LatestNotes(BaseModel):
    patient_id: str
    notes: list[DocumentText] = Field(description="The newest clinical notes, newest first, with their text.")
    complete: bool = Field(description="False when older notes may exist that were not read.")
    problems: list[str] = Field(description="Notes whose text could not be read, and why; what was not read.")


async def latest_notes(fhir: FhirClient, patient_id: str, today: date, count: int, type_code: str | None,
                       max_chars: int, max_bytes: int | None = None) -> LatestNotes:
    """The newest `count` clinical notes (optionally of one type), newest first whatever the server's order."""
    params = [("patient", patient_id), ("category", "clinical-note"), *([("type", type_code)] if type_code else [])]
    scanned = await scan(fhir, "DocumentReference", params, patient_id, today, done=lambda items: len(items) >= count)
    newest = newest_first(scanned.items)[:count]
    share = max_bytes // max(len(newest), 1) if max_bytes is not None else None
    texts = await asyncio.gather(*(note_text(fhir, d, max_chars, max_bytes=share) for d in newest),
                                 return_exceptions=True)
    problems = [f"DocumentReference/{d.get('id')}: {t}" for d, t in zip(newest, texts, strict=True)
                if isinstance(t, EpicMcpError)]
    for outcome in texts:
        if isinstance(outcome, BaseException) and not isinstance(outcome, EpicMcpError):
            raise outcome
    note = scanned.limit_note("notes")
    return LatestNotes(patient_id=patient_id, notes=[t for t in texts if isinstance(t, DocumentText)],
                       complete=scanned.complete or len(scanned.items) >= count,
                       problems=[*problems, *scanned.warnings, *([note] if note and len(newest) < count else [])])


def latest_notes_text(result: LatestNotes) -> str:
    lines = [f"Latest clinical notes of Patient/{result.patient_id}: {len(result.notes)}, newest first"]
    lines += [f"note: {p}" for p in result.problems]
    lines += [document_text_rendering(note) for note in result.notes] or ["no clinical notes on file"]
    return "\n".join(lines)
