# Conformance fixture: one handler, behaviour chosen by event["path"] (service and job mode).
import base64
import sys
import time

print("fixture handler.py loaded", file=sys.stderr)


class Unserialisable:
    pass


def handle(event, context):
    path = event.get("path", "/")
    if path == "/echo":
        # statusCode + non-str body: JSON-encoded; the method also comes back in a header so
        # that HEAD requests (no body) can be checked.
        return {"statusCode": 200, "headers": {"x-event-method": event["method"]},
                "body": {"event": event, "context": context}}
    if path == "/ret/str":
        return "hello ✓"
    if path == "/ret/bytes":
        return b"\x00\x01\xffbinary"
    if path == "/ret/bytearray":
        return bytearray(b"\xfe\xff")
    if path == "/ret/dict":
        return {"a": 1, "b": [True, None]}
    if path == "/ret/list":
        return [1, "two", 3.5]
    if path == "/ret/number":
        return 42
    if path == "/ret/bool":
        return True
    if path == "/ret/none":
        return None
    if path == "/status":
        return {"statusCode": 201,
                "headers": {"X-Single": "one", "X-Multi": ["a", "b"], "Set-Cookie": ["c=1", "d=2"]},
                "body": "created"}
    if path == "/status/content-type":
        return {"statusCode": 202, "headers": {"Content-Type": "text/csv"}, "body": "a,b\n"}
    if path == "/status/empty":
        return {"statusCode": 204}
    if path == "/status/json":
        return {"statusCode": 404, "body": {"missing": True}}
    if path == "/status/base64":
        return {"statusCode": 200, "body": base64.b64encode(b"\x89PNG\x00\xff").decode(),
                "is_base64": True}
    if path == "/status/base64-typed":
        return {"statusCode": 200, "headers": {"content-type": "image/png"},
                "body": base64.b64encode(b"\x89PNG").decode(), "is_base64": True}
    if path == "/error":
        raise ValueError("boom")
    if path == "/error/unserialisable":
        return {"x": Unserialisable()}
    if path == "/error/bad-status":
        return {"statusCode": "200"}
    if path == "/error/bad-header":
        return {"statusCode": 200, "headers": {"x-evil": "a\r\nInjected: yes"}}
    if path == "/sleep":
        time.sleep(0.5)
        return "slept"
    if path == "/print":
        # Job mode: the response document must still be the last line of stdout.
        print("log line 1")
        sys.stdout.write("partial line without newline")
        return "printed"
    return {"unknown_path": path}
