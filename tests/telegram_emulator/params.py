"""Reading Bot API parameters from any of the ways a client may send them.

PTB posts url-encoded forms (multipart when a file is attached) in which every value is a
string: numbers and booleans as text, nested objects (reply_markup, entities, reply_parameters,
commands, results...) as JSON text. Other clients post a JSON body or use a query string. The
typed accessors below accept all of these, so handlers never care how a value arrived.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from .errors import ApiError

_JSON_NAMES = {"reply_markup": "reply keyboard markup"}


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    content: bytes


class Params:
    """One request's parameters with typed, Telegram-worded accessors."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def printable(self) -> dict[str, Any]:
        """The parameters as recorded in rejections: files shown by name, not content."""
        return {
            key: f"<file {value.filename}>" if isinstance(value, UploadedFile) else value
            for key, value in self.values.items()
        }

    def string(self, name: str, default: str | None = None) -> str | None:
        """A text parameter (a nested object given here comes back as its JSON text)."""
        value = self.values.get(name)
        if value is None:
            return default
        return value if isinstance(value, str) else json.dumps(value)

    def required_string(self, name: str) -> str:
        """A text parameter that must be present and non-empty."""
        value = self.string(name)
        if not value:
            raise ApiError.bad_request(f"{name} is empty")
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        """An integer parameter, sent as a number or as digits."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError.bad_request(f"invalid {name} specified") from None

    def required_integer(self, name: str) -> int:
        """An integer parameter that must be present."""
        value = self.integer(name)
        if value is None:
            raise ApiError.bad_request(f"{name} is empty")
        return value

    def number(self, name: str, default: float) -> float:
        """A float parameter (getUpdates timeout may be fractional)."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ApiError.bad_request(f"invalid {name} specified") from None

    def flag(self, name: str) -> bool:
        """A boolean parameter: JSON true or the text "true"."""
        value = self.values.get(name)
        if isinstance(value, str):
            return value.strip().lower() in {"true", "1", "yes"}
        return bool(value)

    def nested(self, name: str) -> Any:
        """A nested object, decoding it if it arrived as JSON text."""
        value = self.values.get(name)
        if not isinstance(value, str):
            return value
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            what = _JSON_NAMES.get(name, name)
            raise ApiError.bad_request(f"can't parse {what} JSON object") from None

    def chat_id(self, name: str = "chat_id") -> int | str:
        """A chat id: an integer, or "@username" for public chats."""
        value = self.values.get(name)
        if value is None or value == "":
            raise ApiError.bad_request(f"{name} is empty")
        if isinstance(value, str) and value.startswith("@"):
            return value
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError.bad_request("chat not found") from None

    def file(self, name: str) -> UploadedFile | str | None:
        """An uploaded file, or a file_id / URL string, or "attach://x" resolved to its part."""
        value = self.values.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = self.values.get(value[len("attach://") :])
        return value if isinstance(value, UploadedFile | str) else None


async def read_params(request: web.Request) -> Params:
    """Collect query string, form fields, file parts or a JSON body into one Params."""
    values: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError.bad_request("can't parse JSON object") from None
            if isinstance(body, dict):
                values.update(body)
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, FileField):
                    values[key] = UploadedFile(
                        filename=value.filename,
                        content_type=value.content_type,
                        content=value.file.read(),
                    )
                else:
                    values[key] = value
    return Params(values)
