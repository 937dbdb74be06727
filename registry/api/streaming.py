"""Streaming responses over blocking generators that hold a database connection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator

import anyio
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send


class ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse over a blocking generator, each chunk made in a worker thread,
    the generator closed however the response ends: exhausted, failed, or the client
    gone away. Starlette leaves an abandoned body iterator to the garbage collector, and
    the generator holds a database connection (and a server-side cursor) until closed."""

    def __init__(self, chunks: Generator[str, None, None], *, media_type: str) -> None:
        self._chunks = chunks
        super().__init__(self._pull(), media_type=media_type)

    async def _pull(self) -> AsyncIterator[str]:
        while (chunk := await run_in_threadpool(next, self._chunks, None)) is not None:
            yield chunk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A worker thread cannot be interrupted: by now no next() is running, and
            # the close must not be cancelled with the response.
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(self._chunks.close)
