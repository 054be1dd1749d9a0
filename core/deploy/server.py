"""The prediction server: an HTTP JSON API around a loaded model (FastAPI, run by uvicorn).

``GET /health``, ``GET /labels``, ``POST /predict`` with ``{"texts": ["...", ...]}`` →
``{"predictions": [[{start, end, label, score, text}, ...], ...]}`` (one list per text,
character offsets into it), OpenAPI docs at ``/docs``. Requests are tagged together by
:class:`~core.deploy.batching.Batcher` on its own thread, so the event loop only reads,
checks and answers. Every answer that is not a success is JSON ``{"error": "..."}``:
4xx for bad input (the message says what was wrong and what to send), 500 for a fault
of the server, which is logged with its traceback and never sent to the client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.deploy.batching import Batcher, BatcherStopped
from core.deploy.limits import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_TEXT_CHARS,
    DEFAULT_MAX_TEXTS,
    DEFAULT_MAX_WAIT_MS,
)
from core.deploy.memory import release_free_memory

log = logging.getLogger("spanlab.serve")
#: Seconds between two returns of free heap memory to the system (see core.deploy.memory).
TRIM_EVERY_S = 1.0

#: Bytes of JSON one character may take (``\uXXXX``), for the bound on a body's size.
_JSON_BYTES_PER_CHAR = 6
SHAPE = 'send {"texts": ["a text", ...]}'


class TextTagger(Protocol):
    """What the server needs of a model: its labels and a batch call (``Predictor``)."""

    labels: list[str]

    def predict(self, texts: Sequence[str]) -> list[list[dict]]: ...


class PredictRequest(pydantic.BaseModel):
    texts: list[pydantic.StrictStr] = pydantic.Field(
        description="The texts to tag; each is answered with its own list of entities."
    )


class Entity(pydantic.BaseModel):
    start: int = pydantic.Field(description="Character offset of the entity's first character")
    end: int = pydantic.Field(description="Character offset just past its last character")
    label: str
    score: float = pydantic.Field(description="Mean probability of its words' tags, 0-1")
    text: str = pydantic.Field(description="text[start:end]")


class PredictResponse(pydantic.BaseModel):
    predictions: list[list[Entity]]


class Labels(pydantic.BaseModel):
    labels: list[str]


class ErrorBody(pydantic.BaseModel):
    error: str


class BadRequest(Exception):
    """Input the server refuses: answered with ``status`` and the message as ``error``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(
    predictor: TextTagger,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    max_texts: int = DEFAULT_MAX_TEXTS,
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
    model_name: str = "",
) -> FastAPI:
    """The API around ``predictor``: at most ``max_texts`` texts of ``max_text_chars``
    characters per request; up to ``max_batch`` texts of concurrent requests are tagged
    together, a batch waiting at most ``max_wait_ms`` for company."""

    last_trim = [0.0]

    def tag(texts: list[str]) -> list[list[dict]]:
        try:
            return predictor.predict(texts)
        finally:  # the batch's activations are freed now: hand their pages back, at
            # most once a second (a trim costs a few milliseconds)
            now = time.monotonic()
            if now - last_trim[0] >= TRIM_EVERY_S:
                last_trim[0] = now
                release_free_memory()

    batcher = Batcher(tag, max_batch=max_batch, max_wait_s=max_wait_ms / 1000)
    max_body = max_texts * (max_text_chars * _JSON_BYTES_PER_CHAR + 8) + 1024

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        try:
            yield
        finally:
            await asyncio.to_thread(batcher.stop)

    app = FastAPI(
        title="Spanlab named-entity recogniser",
        summary=f"Entities of texts, tagged by {model_name or 'a Spanlab model'}.",
        lifespan=lifespan,
        responses={
            "4XX": {"model": ErrorBody, "description": "Bad input"},
            "500": {"model": ErrorBody, "description": "A fault of the server (logged)"},
        },
    )
    app.state.batcher = batcher
    app.add_middleware(_Faults)
    _add_error_handlers(app)

    @app.get("/health", summary="Whether the server can tag")
    async def health() -> JSONResponse:
        if not batcher.alive:
            return _error(503, "The inference thread is not running: restart the server.")
        return JSONResponse(
            {
                "status": "ok",
                "model": model_name,
                "waiting": batcher.waiting(),
                **batcher.stats.as_dict(),
            }
        )

    @app.get("/labels", response_model=Labels, summary="The entity labels the model predicts")
    async def labels() -> dict:
        return {"labels": list(predictor.labels)}

    @app.post(
        "/predict",
        response_model=PredictResponse,
        summary="Entities of each text",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
            }
        },
    )
    async def predict(request: Request) -> dict | JSONResponse:
        texts = _checked_texts(await _read_body(request, max_body), max_texts, max_text_chars)
        if not texts:
            return {"predictions": []}
        try:
            found = await asyncio.wrap_future(batcher.submit(texts))
        except BatcherStopped as error:
            return _error(503, str(error))
        except Exception:  # logged with its traceback by the inference thread
            return _error(500, "The model failed on this request; the server log has the details.")
        return {"predictions": found}

    return app


# -- reading and checking a request ------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind and not (kind == "application/json" or kind.endswith("+json")):
        raise BadRequest(
            415,
            f"The body is sent as {kind}: send it as JSON with the header "
            "'Content-Type: application/json'.",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, _too_big(limit))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest(413, _too_big(limit))
    return bytes(body)


def _too_big(limit: int) -> str:
    return f"The body is larger than {limit:,} bytes: send fewer or shorter texts per request."


def _checked_texts(body: bytes, max_texts: int, max_text_chars: int) -> list[str]:
    if not body.strip():
        raise BadRequest(400, f"The body is empty: {SHAPE}.")
    try:
        texts = PredictRequest.model_validate_json(body).texts
    except pydantic.ValidationError as error:
        raise BadRequest(*_describe(error.errors(include_input=False))) from None
    if len(texts) > max_texts:
        raise BadRequest(
            413,
            f"{len(texts)} texts in one request; the limit is {max_texts} "
            "(--max-texts): send them in several requests.",
        )
    for i, text in enumerate(texts):
        if len(text) > max_text_chars:
            raise BadRequest(
                413,
                f"texts[{i}] has {len(text):,} characters; the limit is {max_text_chars:,} "
                "(--max-text-chars): cut it into paragraphs and send those.",
            )
    return texts


def _describe(errors: list[dict]) -> tuple[int, str]:
    """Status and message for the first thing pydantic found wrong with a body."""
    first = errors[0]
    kind, loc = first["type"], first["loc"]
    if kind == "json_invalid":
        detail = (first.get("ctx") or {}).get("error") or first["msg"]
        return 400, f"The body is not valid JSON ({detail}): {SHAPE}."
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    where = where.lstrip(".") or "the body"
    if kind == "missing":
        return 422, f"'{where}' is missing: {SHAPE}."
    if kind == "string_type":
        return 422, f"{where} is not a string: every text must be a JSON string."
    if kind == "list_type":
        return 422, f"{where} is not a list: {SHAPE}."
    if kind == "model_type":
        return 422, f"The body is not a JSON object: {SHAPE}."
    return 422, f"{where}: {first['msg']}. {SHAPE[0].upper()}{SHAPE[1:]}."


# -- answers that are not a success -------------------------------------------------------------


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BadRequest)
    async def bad_request(_request: Request, error: BadRequest) -> JSONResponse:
        return _error(error.status, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        return _error(*_describe(list(error.errors())))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 404:
            message = f"There is no {request.url.path}: see /docs for what this server answers."
        elif error.status_code == 405:
            message = f"{request.method} is not accepted at {request.url.path}: see /docs."
        else:
            message = str(error.detail)
        return JSONResponse(
            {"error": message}, status_code=error.status_code, headers=error.headers
        )


class _Faults:
    """Any other error of a request: logged once with its traceback, answered 500 JSON.

    An ASGI middleware rather than an ``Exception`` handler: Starlette re-raises after
    such a handler, and the server would log the same fault a second time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("%s %s failed", scope.get("method", ""), scope.get("path", ""))
            if started:  # half an answer is out: only closing the connection is left
                raise
            answer = _error(500, "The server failed on this request; its log has the details.")
            await answer(scope, receive, send)
