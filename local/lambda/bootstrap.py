# Runs inside each local Python function instance, as the Lambda Python runtime does: loads the
# handler named by _HANDLER from LAMBDA_TASK_ROOT, then runs one invocation at a time for the parent,
# which sends events over Node's IPC channel (line-delimited JSON on NODE_CHANNEL_FD) and enforces
# the timeout. The same protocol as bootstrap.ts.
import importlib
import json
import os
import sys
import time
import traceback

CHANNEL_FD = int(os.environ["NODE_CHANNEL_FD"])
incoming = os.fdopen(CHANNEL_FD, "rb")
outgoing = os.fdopen(os.dup(CHANNEL_FD), "wb", buffering=0)


def send(message):
    outgoing.write((json.dumps(message) + "\n").encode())


def route_api_hosts_to_gateway():
    """Sends boto3's requests for the API's own hosts to the local gateway over plain HTTP."""
    gateway = os.environ.get("LOCAL_GATEWAY_URL")
    hosts = {h.lower() for h in os.environ.get("LOCAL_GATEWAY_HOSTS", "").split(",") if h}
    if not gateway:
        return
    try:
        import boto3
    except ImportError:
        return  # the handler's own import reports it

    def redirect(request, **_):
        scheme, _, rest = request.url.partition("://")
        netloc, slash, path = rest.partition("/")
        host = netloc.lower()
        if scheme == "https" and (host in hosts or host.removesuffix(":443") in hosts):
            # The signature covers the original host: keep it in the Host header.
            request.headers["Host"] = netloc
            request.url = f"{gateway}{slash}{path}"

    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-send", redirect)


class Context:
    def __init__(self, message):
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        self.aws_request_id = message["requestId"]
        self.function_name = name
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = f"arn:aws:lambda:{os.environ.get('AWS_REGION')}:123456789012:function:{name}"
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self._deadline = message["deadline"]

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline - time.time() * 1000))


def describe(error, error_type=None):
    return {
        "errorType": error_type or type(error).__name__,
        "errorMessage": str(error),
        "stack": traceback.format_exception(type(error), error, error.__traceback__),
    }


def load_handler():
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        raise RuntimeError(f"Unable to import module '{module_name}': {error}") from error
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise RuntimeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def main():
    route_api_hosts_to_gateway()
    handler, init_error = None, None
    try:
        handler = load_handler()
    except Exception as error:  # reported on every invocation, as Lambda reports an init error
        init_error = error
    send({"type": "ready"})
    for line in incoming:
        message = json.loads(line)
        if message.get("type") != "invoke":
            continue
        if handler is None:
            send({"type": "error", "id": message["id"], "error": describe(init_error, "Runtime.ImportModuleError")})
            continue
        try:
            result = handler(message["event"], Context(message))
            send({"type": "result", "id": message["id"], "result": result})
        except Exception as error:
            send({"type": "error", "id": message["id"], "error": describe(error)})
        sys.stdout.flush()


main()
