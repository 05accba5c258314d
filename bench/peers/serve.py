"""The peers' line protocol: one JSON request per line on stdin, one JSON answer per line on stdout.

A request is `{"cmd": name, ...}`; the answer is `{"ok": true, ...}` with the handler's fields, or `{"ok": false,
"error": "Type: message"}` when the handler raised (the server keeps serving). `{"cmd": "quit"}` ends it.
"""

import json
import sys


def serve(handlers: dict) -> None:
    """Answers requests from stdin with `handlers[cmd](request)` until `quit` or the end of input."""
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            cmd = request.get("cmd")
            if cmd == "quit":
                out.write(json.dumps({"ok": True}) + "\n")
                out.flush()
                break
            if cmd not in handlers:
                raise ValueError(f"unknown command {cmd!r}: use one of {', '.join(handlers)}, quit")
            answer = {"ok": True, **handlers[cmd](request)}
        except Exception as e:  # answer the error and keep serving
            answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()
