"""A stand-in for an SGLang server's ``/generate`` stream, on the CPU: every token after 2 ms,
one in a hundred after 60 ms (a "prefill"), and a ``Decode batch`` line in its log every 40
tokens. It checks the serving benchmark's pipeline (passes, per-request details, the paired
comparison) without a GPU.

    python stand_in_server.py PORT LOG
"""

from __future__ import annotations

import asyncio
import json
import random
import sys

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

app = FastAPI()
LOG = open(sys.argv[2], "a")  # noqa: SIM115 (the server's whole life)


@app.post("/generate")
async def generate(request: Request) -> StreamingResponse:
    tokens = (await request.json())["sampling_params"]["max_new_tokens"]

    async def stream():
        await asyncio.sleep(0.02)  # the prompt's prefill
        for k in range(1, tokens + 1):
            await asyncio.sleep(0.06 if random.random() < 0.01 else 0.002)
            chunk = {"text": "a " * k, "meta_info": {"completion_tokens": k}}
            yield f"data: {json.dumps(chunk)}\n\n"
            if k % 40 == 0:
                LOG.write(
                    "[x] Decode batch, #running-req: 2, #token: 9, "
                    f"gen throughput (token/s): {400 + k}.0\n"
                )
                LOG.flush()
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


@app.api_route("/{path:path}", methods=["GET", "POST"])
async def anything_else(path: str) -> JSONResponse:
    return JSONResponse({})  # /flush_cache, /server_info, ...


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
