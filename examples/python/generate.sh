#!/usr/bin/env bash
# Generates the Python gRPC client of raftflow from proto/ into ./raftflow_pb.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m pip install -q -r requirements.txt
mkdir -p raftflow_pb
python3 -m grpc_tools.protoc -I ../../proto --python_out=raftflow_pb --grpc_python_out=raftflow_pb \
  ../../proto/raftflow/v1/cluster.proto ../../proto/raftflow/v1/workflow.proto ../../proto/raftflow/v1/worker.proto
touch raftflow_pb/__init__.py raftflow_pb/raftflow/__init__.py raftflow_pb/raftflow/v1/__init__.py
echo "generated raftflow_pb/"
