"""Reading the console's HTML forms (application/x-www-form-urlencoded).

Parsed here from the body with the standard library: every console form is url-encoded
text (no uploads), so the console needs no multipart parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import Request

from service.ui._errors import UiError

# The draft editor's spec is the largest field; the API takes workflow documents this big.
MAX_FORM_BYTES = 2 * 1024 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Form:
    fields: dict[str, list[str]]

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def getlist(self, name: str) -> list[str]:
        return list(self.fields.get(name, ()))


async def read_form(request: Request) -> Form:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await request.body()
    if not body and not media_type:
        return Form({})  # an empty post: an empty form (its CSRF check then refuses it)
    if media_type != FORM_TYPE:
        raise UiError(415, "Not a form", f"send the form as {FORM_TYPE}")
    if len(body) > MAX_FORM_BYTES:
        raise UiError(413, "Form too large", f"the limit is {MAX_FORM_BYTES} bytes")
    try:
        text = body.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise UiError(400, "Unreadable form", "the form is not UTF-8 url-encoded text") from exc
    return Form(fields)
