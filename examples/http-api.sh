#!/usr/bin/env bash
# Enqueue and work jobs from any language through pgwake's HTTP API: here, curl and sed.
# Start the server first (`npx pgwake run`), then:
#
#   PGWAKE_URL=http://127.0.0.1:4545 bash examples/http-api.sh
#
# With PGWAKE_TOKEN set on the server, export the same PGWAKE_TOKEN here.
set -euo pipefail
url="${PGWAKE_URL:-http://127.0.0.1:4545}"
auth=()
[ -n "${PGWAKE_TOKEN:-}" ] && auth=(-H "authorization: Bearer $PGWAKE_TOKEN")
api() { curl -sS --fail-with-body "${auth[@]}" -H "content-type: application/json" "$@"; }
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; } # the first "name":"value" of a JSON text

# A queue (creating it again only updates its options).
api -X POST "$url/api/queues" -d '{"name":"resize","options":{"maxAttempts":3}}' > /dev/null

# A producer: enqueue a job; the answer is its id.
id=$(api -X POST "$url/api/queues/resize/jobs" -d '{"payload":{"image":"cat.png","width":128}}' | field id)
echo "enqueued $id"

# A remote worker: claim a job (waiting up to 5 s for one), do the work, ack it with the lease
# token. A worker that dies without acking loses the job after the queue's lease time, and
# another worker gets it; a long job should POST /api/jobs/$id/heartbeat every third of leaseMs.
claim=$(api -X POST "$url/api/queues/resize/claim?wait=5s" -H "x-pgwake-worker: $(hostname)-curl" -d '{"batch":1}')
job=$(echo "$claim" | field id)
token=$(echo "$claim" | field leaseToken)
echo "claimed $job"
api -X POST "$url/api/jobs/$job/ack" -d "{\"token\":\"$token\",\"result\":{\"thumbnail\":\"cat-128.png\"}}" > /dev/null
echo "acked $job"

# The job as the API shows it, and a send that waits for a worker's answer (here, none comes
# within 1 s: 202 with its state).
echo "state: $(api "$url/api/jobs/$id" | field state)"
echo "waited: $(api -X POST "$url/api/queues/resize/jobs?wait=1s" -d '{"payload":{"image":"dog.png"}}' | field state)"
