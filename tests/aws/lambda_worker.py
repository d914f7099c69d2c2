"""One Lambda execution environment of the AWS-mode test: `python -m tests.aws.lambda_worker CODE_DIR`.

Runs the unchanged `app.lambda_handler` of one function under the environment the harness gives it (the
function's template environment, its role's assumed credentials, moto's endpoint). Invocations arrive as
JSON lines on stdin (`{"event": ..., "clock_offset": seconds}`) and results leave as JSON lines on the
original stdout; the process's own stdout (Powertools' JSON logs) goes to stderr, as Lambda sends logs
apart from the response. `clock_offset` moves the Clock port (wagate.wiring.SystemClock) forward for that
one invocation: how the test lets a schedule fire "two minutes later" without waiting for it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
import uuid
from pathlib import Path


class LambdaContext:
    def __init__(self, name: str) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "e2e"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def main() -> int:
    code_dir = Path(sys.argv[1])
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the handler prints is a log line, not a reply
    sys.stdout = sys.stderr

    from tests.aws import recorder

    recorder.install()
    sys.path.insert(0, str(code_dir))
    spec = importlib.util.spec_from_file_location("app", code_dir / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", code_dir.name)
    replies.write(json.dumps({"ready": True}) + "\n")
    from wagate.wiring import SystemClock

    real_now = SystemClock.now
    for line in sys.stdin:
        request = json.loads(line)
        offset = float(request.get("clock_offset", 0))
        SystemClock.now = (  # type: ignore[method-assign]
            (lambda self, by=offset: real_now(self) + by) if offset else real_now
        )
        try:
            result = module.lambda_handler(request["event"], LambdaContext(name))
            reply = {"result": result}
        except Exception as exc:  # Lambda reports an unhandled error to the invoker
            traceback.print_exc()
            reply = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        replies.write(json.dumps(reply, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
