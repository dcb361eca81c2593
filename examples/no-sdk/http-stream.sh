#!/bin/sh
# Pushes from Chorus with nothing but curl: POST a connect request to uni_http_stream and read one JSON push per
# line as it arrives (-N: no buffering). `{}` lines are pings. Ctrl-C to stop.
#
#   ./http-stream.sh [SERVER] [TOKEN]        e.g. ./http-stream.sh http://localhost:8000 "$(chorus gentoken -q -u 42)"
SERVER="${1:-http://localhost:8000}"
TOKEN="${2:-}"
exec curl -sN -X POST "$SERVER/connection/uni_http_stream" \
  -H 'Content-Type: application/json' \
  -d "{\"token\":\"$TOKEN\",\"subs\":{\"news:updates\":{}}}"
