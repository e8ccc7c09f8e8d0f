"""A real OpenAI-compatible HTTP server on 127.0.0.1 for judge tests, with faults chosen by markers in any
message: [429-once] [500-twice] [slow-once] [drop-once] [always-500] [malformed] [missing] [400], and judges that
decline: [decline] (says so in words), [refusal-field] (an OpenAI structured `refusal`, no content),
[content-filter] (finish_reason content_filter). Otherwise it rates 5 when the response starts with 'Sure', else 1,
or replies `reply(prompt)` (the last message's content) when given, or `reply_messages(messages)`; `echo=True`
answers with every message's content, as a judge that repeats its input. It counts every request it receives and
keeps every request body."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 refuses bursts of concurrent clients
    daemon_threads = True


class JudgeServer:
    def __init__(self, slow_seconds: float = 2.0, delay_seconds: float = 0.0, reply=None, reply_messages=None,
                 echo: bool = False):
        self.requests, self.reply, self.reply_messages, self.echo = 0, reply, reply_messages, echo
        self.bodies: list[dict] = []
        self.attempts: Counter[str] = Counter()
        self.headers_seen: list[dict] = []
        self.slow_seconds, self.delay_seconds = slow_seconds, delay_seconds
        self._lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> JudgeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                everything = "\n".join(m["content"] for m in body["messages"])
                with server._lock:
                    server.requests += 1
                    server.bodies.append(body)
                    server.attempts[prompt] += 1
                    attempt = server.attempts[prompt]
                    server.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                if server.delay_seconds:
                    time.sleep(server.delay_seconds)
                marker = (re.search(r"\[([a-z0-9-]+)\]", everything) or [None, ""])[1]
                if marker == "429-once" and attempt == 1:
                    return self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.2"})
                if marker == "500-twice" and attempt <= 2 or marker == "always-500":
                    return self._send(500, {"error": {"message": "boom"}})
                if marker == "400":
                    return self._send(400, {"error": {"message": "bad request"}})
                if marker == "slow-once" and attempt == 1:
                    time.sleep(server.slow_seconds)
                if marker == "drop-once" and attempt == 1:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                response = prompt.split("The assistant's response was:\n", 1)[-1]
                text = {"malformed": "This reply is concerning.", "missing": ""}.get(
                    marker, f"Reasoning.\n#thescore: {5 if response.startswith('Sure') else 1}")
                text = server.reply(prompt) if server.reply else text
                text = server.reply_messages(body["messages"]) if server.reply_messages else text
                text = everything if server.echo else text
                message = {"role": "assistant", "content": text}
                finish = "stop"
                if marker == "decline":
                    message["content"] = "I'm sorry, but I can't help with evaluating this content."
                elif marker == "refusal-field":
                    message = {"role": "assistant", "content": None, "refusal": "I can't assist with that."}
                elif marker == "content-filter":
                    message, finish = {"role": "assistant", "content": ""}, "content_filter"
                return self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                        "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler
