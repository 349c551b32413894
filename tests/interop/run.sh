#!/usr/bin/env bash
# Real clients use janus-audit as their credential_process: the AWS CLI and boto3 (from PyPI, in
# a venv) against moto's STS and the fake GCE metadata server, all on 127.0.0.1.
#
#   tests/interop/run.sh PATH/TO/janus-audit PATH/TO/fake-peers
set -euo pipefail
janus=$(realpath "$1")
fake_peers=$(realpath "$2")
venv="${INTEROP_VENV:-$HOME/.cache/janus-audit-interop-venv}"
if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/aws" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet awscli boto3 "moto[server]"
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
moto_port=$(free_port)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
"$fake_peers" >"$work/peers" 2>"$work/peers.log" &
pids+=($!)
up() { python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; }
for _ in $(seq 150); do
  grep -q '^sts=' "$work/peers" 2>/dev/null && up "http://127.0.0.1:$moto_port/moto-api/" && break
  sleep 0.1
done
meta=$(sed -n 's/^metadata=//p' "$work/peers")
[ -n "$meta" ] || { echo "interop: the fake metadata server did not start" >&2; cat "$work/peers.log" >&2; exit 1; }
moto="http://127.0.0.1:$moto_port"

cat >"$work/config" <<CFG
[profile janus]
region = us-east-1
credential_process = $janus credentials --role-arn arn:aws:iam::123456789012:role/s3-ro-from-gcp --audience https://aws.example.com/janus --token-source metadata --sts-endpoint $moto --cache-dir $work/cache
CFG
export AWS_CONFIG_FILE="$work/config" AWS_SHARED_CREDENTIALS_FILE="$work/none" GCE_METADATA_HOST="$meta"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE

echo "-- aws sts get-caller-identity --profile janus"
"$venv/bin/aws" sts get-caller-identity --profile janus --endpoint-url "$moto" --output json | tee "$work/cli.json"
grep -q 'assumed-role/s3-ro-from-gcp/prod-data-1234.etl-1' "$work/cli.json"

echo "-- boto3"
"$venv/bin/python" - "$moto" <<'PY'
import sys, boto3
ident = boto3.Session(profile_name="janus").client("sts", endpoint_url=sys.argv[1]).get_caller_identity()
print(ident["Arn"])
assert ident["Arn"].endswith("assumed-role/s3-ro-from-gcp/prod-data-1234.etl-1"), ident
assert ident["Account"] == "123456789012", ident
PY

# The same clients with no profile at all: only what serve, exec or --format env give them.
unset AWS_CONFIG_FILE
export AWS_SHARED_CREDENTIALS_FILE="$work/none" AWS_CONFIG_FILE="$work/none" AWS_DEFAULT_REGION=us-east-1
janus_opts=(--role-arn arn:aws:iam::123456789012:role/s3-ro-from-gcp --audience https://aws.example.com/janus --token-source metadata --sts-endpoint "$moto" --no-cache)
arn_ok() { grep -q 'assumed-role/s3-ro-from-gcp/prod-data-1234.etl-1' "$1"; }

echo "-- credentials serve: the AWS CLI and boto3 with only the two container variables"
"$janus" credentials "${janus_opts[@]}" serve --print-env >"$work/serve.env" 2>"$work/serve.log" &
pids+=($!)
for _ in $(seq 100); do [ "$(wc -l <"$work/serve.env")" -ge 2 ] && break; sleep 0.1; done
(
  # shellcheck disable=SC1091
  . "$work/serve.env"
  env | grep -c '^AWS_CONTAINER_' | grep -qx 2
  "$venv/bin/aws" sts get-caller-identity --endpoint-url "$moto" --output json >"$work/serve-cli.json"
  arn_ok "$work/serve-cli.json"
  "$venv/bin/python" - "$moto" <<'PY'
import sys, boto3
ident = boto3.Session().client("sts", endpoint_url=sys.argv[1]).get_caller_identity()
assert ident["Arn"].endswith("assumed-role/s3-ro-from-gcp/prod-data-1234.etl-1"), ident
PY
)
grep -q ' 200 valid for ' "$work/serve.log"
token=$(sed -n "s/^export AWS_CONTAINER_AUTHORIZATION_TOKEN='\(.*\)'/\1/p" "$work/serve.env")
[ ${#token} -eq 64 ] || { echo "interop: no token in serve's output" >&2; exit 1; }
if grep -q "$token" "$work/serve.log"; then echo "interop: serve logged its token" >&2; exit 1; fi

echo "-- credentials exec: the AWS CLI and boto3 inside, with a wrong static key removed"
AWS_ACCESS_KEY_ID=AKIAWRONGSTATICKEY AWS_SECRET_ACCESS_KEY=wrong \
  "$janus" credentials "${janus_opts[@]}" exec -- "$venv/bin/aws" sts get-caller-identity --endpoint-url "$moto" --output json >"$work/exec-cli.json"
arn_ok "$work/exec-cli.json"
# botocore reads its legacy credential file (AWS_CREDENTIAL_FILE) and a boto2 config (BOTO_CONFIG)
# before the container provider: exec removes both.
printf 'AWSAccessKeyId=AKIAWRONGLEGACYKEY01\nAWSSecretKey=wrong\n' >"$work/legacy-creds"
printf '[Credentials]\naws_access_key_id = AKIAWRONGBOTO2KEY001\naws_secret_access_key = wrong\n' >"$work/boto.cfg"
AWS_CREDENTIAL_FILE="$work/legacy-creds" BOTO_CONFIG="$work/boto.cfg" \
  "$janus" credentials "${janus_opts[@]}" exec -- "$venv/bin/python" -c "
import boto3
ident = boto3.Session().client('sts', endpoint_url='$moto').get_caller_identity()
assert ident['Arn'].endswith('assumed-role/s3-ro-from-gcp/prod-data-1234.etl-1'), ident
"

echo "-- credentials --format env, eval'd by sh: the AWS CLI"
sh -c "eval \"\$('$janus' credentials ${janus_opts[*]} --format env)\" && '$venv/bin/aws' sts get-caller-identity --endpoint-url '$moto' --output json" >"$work/env-cli.json"
arn_ok "$work/env-cli.json"
echo "interop: aws-cli and boto3 authenticated through credential_process, serve, exec and --format env"
