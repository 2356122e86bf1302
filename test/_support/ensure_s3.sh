#!/usr/bin/env bash
# Before `npm test`: the S3 tests run against a real S3 server, Ceph's RADOS
# Gateway, which the test setup starts as a throwaway single-node store
# (test/_support/s3/gateway.ts). On a Debian machine where we are root, install its
# packages when they are missing; elsewhere, say what is missing and how to
# point the tests at a gateway that is already running.
set -euo pipefail
if [ -n "${SLUICE_S3_ENDPOINT:-}" ]; then exit 0; fi
missing=()
command -v radosgw >/dev/null 2>&1 || missing+=(radosgw)
command -v ceph-mon >/dev/null 2>&1 || missing+=(ceph-mon)
command -v ceph-osd >/dev/null 2>&1 || missing+=(ceph-osd)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} from Debian's packages (for the S3 tests)"
  apt-get update -qq
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq radosgw >/dev/null
  apt-get install -y -qq --no-install-recommends ceph-mon ceph-osd >/dev/null
else
  echo "missing for the S3 tests: ${missing[*]}. Install them (Debian: apt-get install -y radosgw &&" >&2
  echo "apt-get install -y --no-install-recommends ceph-mon ceph-osd), or point the tests at a running gateway" >&2
  echo "with SLUICE_S3_ENDPOINT, SLUICE_S3_ACCESS_KEY_ID, SLUICE_S3_SECRET_ACCESS_KEY and SLUICE_S3_BUCKET." >&2
  exit 1
fi
