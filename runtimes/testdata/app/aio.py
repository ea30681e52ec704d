# Conformance fixture: an async def handler (FAAS_HANDLER=aio.handle).
import asyncio


async def handle(event, context):
    if event.get("path") == "/error":
        await asyncio.sleep(0)
        raise KeyError("async-boom")
    await asyncio.sleep(0.5)
    return {"async": True, "path": event.get("path"), "request_id": context["request_id"]}
