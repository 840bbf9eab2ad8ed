#!/usr/bin/env bash
# Regenerates lib/lakefs-api/schema.d.ts from the lakeFS OpenAPI spec (the contract for both the
# lakeFS client in lib/remote/lakefs.ts and the lakeFS-compatible server in lib/server/).
# The output is committed; rerun this after updating the spec and review the diff.
set -euo pipefail
cd "$(dirname "$0")/.."
SPEC="${1:-../shared/reference/lakefs-swagger.yml}"
[ -f "$SPEC" ] || SPEC=/work/shared/reference/lakefs-swagger.yml
mkdir -p lib/lakefs-api
# Keep a copy of the spec beside the types: the tests validate requests and responses against it.
cp "$SPEC" lib/lakefs-api/lakefs-swagger.yml
# --default-non-nullable=false: fields with a default stay optional (request bodies may omit them)
npx openapi-typescript lib/lakefs-api/lakefs-swagger.yml --default-non-nullable=false -o lib/lakefs-api/schema.d.ts
