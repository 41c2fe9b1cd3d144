#!/usr/bin/env bash
# Submit one mobsig job to YARN (cluster deploy mode) or, for tests, a standalone master.
#
#   deploy/yarn/submit.sh [submit options] JOB [job options]
#   deploy/yarn/submit.sh --config /etc/mobsig/prod.yaml ingest_events --date 2026-06-01
#   deploy/yarn/submit.sh --env-archive hdfs:///apps/mobsig/mobsig-env.tar.gz clean_stays --date 2026-06-01
#   deploy/yarn/submit.sh --target standalone --master spark://127.0.0.1:7077 clean_stays --date D
#
# Submit options (before JOB): --target yarn|standalone|k8s, --master URL,
# --deploy-mode client|cluster, --resources FILE (default deploy/resources.yaml),
# --packages (pinned Maven coordinates instead of deploy/jars), --env-archive TGZ,
# --python PATH (interpreter on every node when no archive), --config FILE, --dry-run.
# Environment: SPARK_SUBMIT (default: spark-submit on PATH, else the virtualenv's),
# MOBSIG_PYTHON (Python with mobsig installed; default .venv/bin/python).
# The mobsig wheel is built into dist/ when missing or older than the code.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=${MOBSIG_PYTHON:-$root/.venv/bin/python}
[ -x "$py" ] || { echo "submit: no Python at $py (run make setup or set MOBSIG_PYTHON)" >&2; exit 3; }
if [ -z "${SPARK_SUBMIT:-}" ]; then
  if command -v spark-submit >/dev/null; then SPARK_SUBMIT=spark-submit
  else SPARK_SUBMIT=$(dirname "$py")/spark-submit; fi
fi
export SPARK_SUBMIT
wheel=$(ls "$root"/dist/mobsig-*.whl 2>/dev/null | tail -n 1 || true)
newest=""
if [ -n "$wheel" ]; then
  newest=$(find "$root/lib" "$root/jobs" "$root/schemas" "$root/expectations" \
             "$root/pyproject.toml" -type f -newer "$wheel" 2>/dev/null | head -n 1 || true)
fi
if [ -z "$wheel" ] || [ -n "$newest" ]; then
  rm -f "$root"/dist/mobsig-*.whl
  "$py" -m pip wheel --quiet --no-deps -w "$root/dist" "$root" >&2
fi
exec "$py" -m mobsig.submit "$@"
