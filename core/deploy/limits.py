"""The server's default bounds, apart from the server so the CLI's help needs no web stack."""

#: Texts of concurrent requests tagged together in one model call.
DEFAULT_MAX_BATCH = 32
#: How long a batch waits for more requests to join it, in milliseconds.
DEFAULT_MAX_WAIT_MS = 5.0
#: The longest text one request may carry, in characters.
DEFAULT_MAX_TEXT_CHARS = 10_000
#: The most texts one request may carry.
DEFAULT_MAX_TEXTS = 64
