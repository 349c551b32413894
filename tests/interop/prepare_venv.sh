#!/usr/bin/env bash
# Prepares, ahead of `cargo test`, the Python venv its S3, STS and credential tests run real
# peers from (moto's server, the AWS CLI, boto3; from PyPI). `cargo test` makes it on its first
# run too; this is for a machine that will lose PyPI later, or to see pip's own errors.
set -euo pipefail
venv=${1:-$HOME/.cache/janus-audit-interop-venv}
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet awscli boto3 'moto[server]'
echo "ready: $venv (moto_server, aws, boto3)"
