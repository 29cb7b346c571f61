#!/usr/bin/env python3
"""raftflow from Python: register a workflow, run a worker for its activity,
start an execution and wait for the result. Needs only the generated gRPC
stubs (./generate.sh) and a running cluster (`raftflow dev`).

    ./generate.sh && python3 hello.py [host:port,...]

TLS and the API token as the CLI does it: the CA and client certificate from
RAFTFLOW_CA, RAFTFLOW_CERT and RAFTFLOW_KEY, the token from RAFTFLOW_TOKEN or
RAFTFLOW_TOKEN_FILE, else the local cluster's in data/certs and
data/admin.token; RAFTFLOW_INSECURE=1 for a cluster started with --insecure.
(The example uses the admin token for brevity; a real worker gets a worker
token: `raftflow token create --name shout --role worker --scope shout`.)
"""
import json
import os
import sys
import threading
import time
import uuid

import grpc

sys.path.insert(0, "raftflow_pb")
from raftflow.v1 import worker_pb2, worker_pb2_grpc, workflow_pb2, workflow_pb2_grpc  # noqa: E402

DEFINITION = json.dumps({
    "StartAt": "Shout",
    "States": {"Shout": {"Type": "Task", "Resource": "activity:shout", "TimeoutSeconds": 30, "End": True}},
})


def credentials():
    """TLS credentials, or None for plaintext."""
    if os.environ.get("RAFTFLOW_INSECURE"):
        return None
    local = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../data/certs")
    ca = os.environ.get("RAFTFLOW_CA", os.path.join(local, "ca.pem"))
    cert = os.environ.get("RAFTFLOW_CERT", os.path.join(local, "client-local.pem"))
    key = os.environ.get("RAFTFLOW_KEY", os.path.join(local, "client-local-key.pem"))
    read = lambda path: open(path, "rb").read() if os.path.exists(path) else None  # noqa: E731
    if read(ca) is None:
        sys.exit(f"no CA at {ca}: set RAFTFLOW_CA (or RAFTFLOW_INSECURE=1 for a plaintext cluster)")
    return grpc.ssl_channel_credentials(root_certificates=read(ca), private_key=read(key),
                                        certificate_chain=read(cert))


def token_metadata():
    """The `authorization` metadata every call sends, or none (plaintext)."""
    if os.environ.get("RAFTFLOW_INSECURE"):
        return ()
    token = os.environ.get("RAFTFLOW_TOKEN")
    if not token:
        local = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../data/admin.token")
        path = os.environ.get("RAFTFLOW_TOKEN_FILE", local)
        if not os.path.exists(path):
            sys.exit(f"no token at {path}: set RAFTFLOW_TOKEN or RAFTFLOW_TOKEN_FILE")
        token = open(path).readline().strip()
    return (("authorization", f"Bearer {token}"),)


class Cluster:
    """Finds the leader: a node that is not the leader answers UNAVAILABLE
    with the leader's address in the `x-raftflow-leader` metadata."""

    def __init__(self, endpoints):
        self.endpoints = list(endpoints)
        self.current = 0
        self.credentials = credentials()
        self.metadata = token_metadata()

    def call(self, service, method, request, timeout=70):
        deadline = time.time() + 30
        while True:
            target = self.endpoints[self.current]
            channel = (grpc.secure_channel(target, self.credentials) if self.credentials
                       else grpc.insecure_channel(target))
            stub = service(channel)
            try:
                return getattr(stub, method)(request, timeout=timeout, metadata=self.metadata)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or time.time() > deadline:
                    raise
                leader = dict(e.trailing_metadata() or ()).get("x-raftflow-leader")
                if leader and leader not in self.endpoints:
                    self.endpoints.append(leader)
                self.current = self.endpoints.index(leader) if leader else (self.current + 1) % len(self.endpoints)
                time.sleep(0.05)
            finally:
                channel.close()


def worker(cluster, stop):
    """Polls for `shout` tasks and answers them: any language can be a worker."""
    while not stop.is_set():
        task = cluster.call(worker_pb2_grpc.WorkerServiceStub, "PollTask",
                            worker_pb2.PollTaskRequest(activities=["shout"], worker="python", timeout_ms=2000))
        if not task.token:
            continue
        text = json.loads(task.input)["text"]
        cluster.call(worker_pb2_grpc.WorkerServiceStub, "CompleteTask",
                     worker_pb2.CompleteTaskRequest(token=task.token, output=json.dumps({"shouted": text.upper()})))


def main():
    endpoints = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203").split(",")
    cluster = Cluster(endpoints)
    wf = workflow_pb2_grpc.WorkflowServiceStub
    cluster.call(wf, "CreateStateMachine", workflow_pb2.CreateStateMachineRequest(name="shout", definition=DEFINITION))
    stop = threading.Event()
    thread = threading.Thread(target=worker, args=(cluster, stop), daemon=True)
    thread.start()
    started = cluster.call(wf, "StartExecution", workflow_pb2.StartExecutionRequest(
        state_machine="shout", name=f"py-{uuid.uuid4()}", input=json.dumps({"text": "hello from python"})))
    print("started", started.execution_id)
    while True:
        info = cluster.call(wf, "DescribeExecution", workflow_pb2.DescribeExecutionRequest(execution_id=started.execution_id))
        if info.status != "RUNNING":
            break
        time.sleep(0.1)
    stop.set()
    print(info.status, info.output)
    sys.exit(0 if info.status == "SUCCEEDED" else 1)


if __name__ == "__main__":
    main()
