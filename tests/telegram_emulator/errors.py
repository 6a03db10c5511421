"""The two kinds of failure in the emulator, kept apart on purpose.

ApiError        what Telegram would answer the bot: an HTTP status plus the Bot API error
                body ({"ok": false, "error_code", "description", "parameters"}). The server
                turns it into a response and records it; it never reaches the test directly.
EmulatorError   the *test* asked for something Telegram could not produce (pressing a
                button that does not exist, a user writing in a chat they are not in).
                Raised straight into the test, because the scenario itself is wrong.
"""

from __future__ import annotations

from typing import Any

_PREFIX = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class EmulatorError(Exception):
    """A test drove the emulator into a situation real Telegram cannot be in."""


class ApiError(Exception):
    """A Bot API error response: status, Telegram's description text, optional parameters."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    @classmethod
    def bad_request(cls, detail: str) -> ApiError:
        """400 with Telegram's "Bad Request: " prefix."""
        return cls(400, f"Bad Request: {detail}")

    @classmethod
    def forbidden(cls, detail: str) -> ApiError:
        """403 with Telegram's "Forbidden: " prefix."""
        return cls(403, f"Forbidden: {detail}")

    @classmethod
    def injected(
        cls, status: int, retry_after: int = 1, description: str | None = None
    ) -> ApiError:
        """An error a test asked for via fail_next; 429 carries retry_after like Telegram."""
        if status == 429:
            text = description or f"Too Many Requests: retry after {retry_after}"
            return cls(429, text, {"retry_after": retry_after})
        return cls(status, description or f"{_PREFIX.get(status, 'Error')}: injected failure")

    def body(self) -> dict[str, Any]:
        """The JSON body Telegram sends with this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body
