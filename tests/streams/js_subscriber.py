"""A subscriber process for the cluster test: pulls from a shared durable consumer, acknowledges each
message (waiting for the server's confirmation), and only then writes it down as handled, one JSON line
each. It stops once the stop file exists and nothing more arrives.

    python -m tests.streams.js_subscriber SERVERS STREAM DURABLE OUT STOP_FILE
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import nats
from nats.errors import Error as NatsError


async def main(servers: str, stream: str, durable: str, out: Path, stop: Path) -> None:
    nc = await nats.connect(servers.split(","), max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    sub = await js.pull_subscribe_bind(durable, stream)
    with out.open("a") as handled:
        while True:
            try:
                msgs = await sub.fetch(10, timeout=1)
            except (TimeoutError, NatsError):  # nothing yet, or a node went away mid-fetch
                if stop.exists():
                    break
                continue
            for m in msgs:
                try:
                    await m.ack_sync(timeout=5)
                except (TimeoutError, NatsError):
                    continue  # not acknowledged: the consumer redelivers it, and it is written then
                body = json.loads(m.data)
                line = {"position": body["position"], "seq": m.metadata.sequence.stream}
                handled.write(json.dumps(line) + "\n")
                handled.flush()
    await nc.close()


if __name__ == "__main__":
    servers, stream, durable, out, stop = sys.argv[1:6]
    asyncio.run(main(servers, stream, durable, Path(out), Path(stop)))
