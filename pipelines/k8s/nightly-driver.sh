#!/bin/sh
# ooni-k8s-nightly: the nightly CronJob's driver (pipelines/k8s/nightly-cronjob.yaml).
# Creates the shards' Indexed Job, waits for it, then creates the merge Job and waits for it,
# talking to the Kubernetes API with the pod's service account (curl and jq, no kubectl).
#
# Exit status: 0 both Jobs complete; 1 a Job failed (the failed shard indexes are named), an
# earlier night's Jobs are still running, or the API refused a request; 143 / 130 stopped by
# SIGTERM / SIGINT (the Jobs it created go on without it).
#
# Environment (defaults in brackets):
#   OONI_JOBS_DIR      the Job manifests, shards-job.yaml and aggregate-job.yaml [/etc/ooni-pipeline/jobs]
#   OONI_POLL_SECONDS  seconds between two looks at a Job [30]
#   OONI_TIMEOUT_SECONDS  give up waiting for one Job after this long [86400]
#   KUBERNETES_API     the API server [https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT]
#   SERVICEACCOUNT_DIR token, ca.crt and namespace [/var/run/secrets/kubernetes.io/serviceaccount]
#   NAMESPACE          [the service account's namespace]
set -eu

jobs_dir=${OONI_JOBS_DIR:-/etc/ooni-pipeline/jobs}
poll=${OONI_POLL_SECONDS:-30}
timeout=${OONI_TIMEOUT_SECONDS:-86400}
sa=${SERVICEACCOUNT_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}
api=${KUBERNETES_API:-https://${KUBERNETES_SERVICE_HOST:-kubernetes.default.svc}:${KUBERNETES_SERVICE_PORT:-443}}
namespace=${NAMESPACE:-$(cat "$sa/namespace")}
jobs_path="/apis/batch/v1/namespaces/$namespace/jobs"

log() {
    printf '%s ooni-k8s-nightly: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

# Stop at once on SIGTERM/SIGINT: the Jobs already created do not depend on this process.
trap 'log "stopped by SIGTERM; the Jobs created so far go on"; exit 143' TERM
trap 'log "stopped by SIGINT; the Jobs created so far go on"; exit 130' INT

# api METHOD PATH [curl arguments…]: the response body on stdout; non-zero on HTTP errors.
# The token is read for every request: projected service account tokens are rotated.
api() {
    method=$1
    path=$2
    shift 2
    curl --silent --show-error --fail-with-body --max-time 60 \
        --retry 5 --retry-connrefused --retry-delay 2 \
        --cacert "$sa/ca.crt" \
        --header "Authorization: Bearer $(cat "$sa/token")" \
        --header "Accept: application/json" \
        --request "$method" "$api$path" "$@"
}

# Waits in the background, so that a signal is handled at once, not after the sleep.
pause() {
    sleep "$1" &
    wait $! || true
}

# create FILE: creates the Job FILE describes (its generateName gives it a fresh name);
# prints the name.
create() {
    if ! created=$(api POST "$jobs_path" --header "Content-Type: application/yaml" \
        --data-binary "@$1"); then
        log "creating the Job of $1 failed: $created"
        return 1
    fi
    printf '%s' "$created" | jq -r '.metadata.name'
}

# await NAME: waits until the Job completes (0) or fails (1, with its reason and the failed
# indexes), or the timeout passes (1).
await() {
    waited=0
    while :; do
        if ! job=$(api GET "$jobs_path/$1"); then
            log "reading Job $1 failed: $job"
            return 1
        fi
        now=$(printf '%s' "$job" | jq -r '
            def holds(t): any(.status.conditions[]?; .type == t and .status == "True");
            if holds("Complete") then "Complete"
            elif holds("Failed") then "Failed"
            else "Running" end')
        case $now in
            Complete)
                log "Job $1 is complete"
                return 0
                ;;
            Failed)
                printf '%s' "$job" | jq -r '
                    "Job \(.metadata.name) failed: " +
                    ([.status.conditions[]? | select(.type == "Failed") |
                      "\(.reason // "?"): \(.message // "")"] | join("; ")) +
                    (if .status.failedIndexes then
                        " (failed shard indexes: \(.status.failedIndexes))" else "" end) +
                    (if .status.completedIndexes then
                        " (completed: \(.status.completedIndexes))" else "" end)' >&2
                return 1
                ;;
        esac
        if [ "$waited" -ge "$timeout" ]; then
            log "Job $1 is still running after ${timeout}s: giving up waiting (it goes on)"
            return 1
        fi
        pause "$poll"
        waited=$((waited + poll))
    done
}

# An earlier night's shards or merge still running would race this night's for the same
# shard indexes (their commits cannot both win, but one night would fail): wait for them
# to end instead, by refusing to start.
if ! listed=$(api GET "$jobs_path?labelSelector=ooni-pipeline%2Frole"); then
    log "listing the Jobs in namespace $namespace failed: $listed"
    exit 1
fi
running=$(printf '%s' "$listed" | jq -r '
    [.items[] | select(any(.status.conditions[]?;
        (.type == "Complete" or .type == "Failed") and .status == "True") | not)
     | .metadata.name] | join(" ")')
if [ -n "$running" ]; then
    log "earlier Jobs are still running: $running; not starting another night"
    exit 1
fi

shards=$(create "$jobs_dir/shards-job.yaml")
log "created the shards' Job $shards"
if ! await "$shards"; then
    log "not merging: shards are missing (rerun them, then: kubectl create -f pipelines/k8s/aggregate-job.yaml)"
    exit 1
fi
merge=$(create "$jobs_dir/aggregate-job.yaml")
log "created the merge Job $merge"
await "$merge"
log "night complete: $shards, then $merge"
