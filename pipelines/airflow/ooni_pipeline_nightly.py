"""ooni-pipeline's nightly run on Airflow: N shards as mapped tasks, then the merge.

Each shard is a KubernetesPodOperator task running the image built from this repository's
Containerfile with `ooni-pipeline run --shard I/N`; the task is mapped over I = 0 … N-1
(dynamic task mapping), so Airflow shows, retries and times every shard on its own. The merge
(`ooni-pipeline aggregate`) is the downstream task: it runs once every shard succeeded, and
it checks again itself that every shard of the plan committed (a missing shard is an error
that names it).

Retries are safe: a shard rerun with the same index keeps what it committed and reads only
what it had not; the merge is idempotent. Exit status 3 (completed, but records were
quarantined or archives were left for the next run) is mapped to success by tini's `-e 3`
in the container's command, because a retry would not change it. Exit status 2 (usage
error) is retried like any failure (Airflow cannot tell exit codes apart here); it fails
the same way each time, quickly.

Output: the pods share no disk. The output and its state live in the bucket OUTPUT
(`--out s3://…`, the same as `out` in pipelines/k8s/nightly-sharded.toml): each shard keeps
its lease, pending lists and manifest under s3://…/_state/shards/N/I/ and commits with a
conditional write, so two pods given one index never both commit; the merge checks every
shard's manifest there and commits the aggregates the same way. Every pod's `--work-dir` is
WORK_DIR = /work, a cache: an emptyDir (20Gi) in each shard pod, gone with it; in the merge
pod the ReadWriteOnce PersistentVolumeClaim MERGE_CACHE_CLAIM (pipelines/k8s/pvc.yaml, in the
pods' namespace), kept between nights because the merge recomputes blocking events over the
whole history: on an empty work dir it downloads every partition file of the output once,
with the claim only what changed. Writes to the bucket are signed with the standard AWS
credential chain: the optional Secret `ooni-pipeline-s3` (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY) or a role for the service account `ooni-pipeline` (IRSA or EKS Pod
Identity: pipelines/k8s/rbac.yaml). The bucket is expected in eu-central-1, OONI's region;
one elsewhere needs `output_region` in nightly-sharded.toml and `--region` for the merge.

Settings (environment of the scheduler and workers, or edit the constants):
  OONI_PIPELINE_IMAGE      the image, pushed to your registry [ooni-pipeline:latest]
  OONI_PIPELINE_NAMESPACE  the namespace the pods run in [ooni-pipeline]
  OONI_OUTPUT              the output, s3://BUCKET/PREFIX: the default is a PLACEHOLDER,
                           set your own bucket [s3://ooni-pipeline-output/nightly]
  OONI_MERGE_CACHE_CLAIM   the merge's ReadWriteOnce cache claim, mounted at WORK_DIR
                           [ooni-pipeline-merge-cache]
The number of shards is the DAG parameter `shards` (default 8); `since`/`until` (optional)
give the window, for a backfill, instead of yesterday.

The configuration file comes from the ConfigMap `ooni-pipeline-sharded-config` (pipelines/k8s/
nightly-sharded.toml; `kubectl apply -k pipelines/k8s` creates it, and the cache claim), and
the output bucket's credentials from the optional Secret `ooni-pipeline-s3` (or the service
account's role), as for the Kubernetes Jobs. The shards are given `--out OUTPUT` and
`--work-dir /work` on the command line, so that OONI_OUTPUT alone decides where they write.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from kubernetes.client import models as k8s

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

try:  # Airflow 3
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2.9 – 2.11
    from airflow import DAG
    from airflow.decorators import task
    from airflow.models.param import Param

IMAGE = os.environ.get("OONI_PIPELINE_IMAGE", "ooni-pipeline:latest")
NAMESPACE = os.environ.get("OONI_PIPELINE_NAMESPACE", "ooni-pipeline")
# Where the shards and the merge write, output and state: a placeholder, set your bucket.
OUTPUT = os.environ.get("OONI_OUTPUT", "s3://ooni-pipeline-output/nightly")
MERGE_CACHE_CLAIM = os.environ.get("OONI_MERGE_CACHE_CLAIM", "ooni-pipeline-merge-cache")
# Every pod's `--work-dir`, a local cache of the bucket.
WORK_DIR = "/work"
CONFIG = "/etc/ooni-pipeline/nightly-sharded.toml"
# tini forwards SIGTERM (the run then exits 143) and maps exit status 3 to 0.
COMMAND = ["/usr/bin/tini", "-e", "3", "--", "/usr/local/bin/ooni-pipeline"]

RESOURCES = k8s.V1ResourceRequirements(
    requests={"cpu": "2", "memory": "4Gi"},
    limits={"memory": "8Gi"},
)
CONTAINER_SECURITY = k8s.V1SecurityContext(
    allow_privilege_escalation=False,
    capabilities=k8s.V1Capabilities(drop=["ALL"]),
)
POD_SECURITY = k8s.V1PodSecurityContext(
    run_as_non_root=True,
    run_as_user=10001,
    run_as_group=10001,
    fs_group=10001,
)
CONFIG_VOLUME = k8s.V1Volume(
    name="config",
    config_map=k8s.V1ConfigMapVolumeSource(name="ooni-pipeline-sharded-config"),
)
# A shard's work dir: the staged batch, its files of this run, and the committed measurement
# files of the partitions it touches (downloaded to drop duplicates). Gone with the pod: a
# retry syncs the shard's state from the bucket.
SHARD_WORK_VOLUME = k8s.V1Volume(name="work", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="20Gi"))
# The merge's work dir, kept between nights (pipelines/k8s/pvc.yaml).
MERGE_CACHE_VOLUME = k8s.V1Volume(
    name="work",
    persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=MERGE_CACHE_CLAIM),
)
WORK_MOUNT = k8s.V1VolumeMount(name="work", mount_path=WORK_DIR)
SHARD_MOUNTS = [
    k8s.V1VolumeMount(name="config", mount_path="/etc/ooni-pipeline", read_only=True),
    WORK_MOUNT,
]
S3_SECRET = [
    k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name="ooni-pipeline-s3", optional=True))
]

# What every pod of the DAG shares.
POD_DEFAULTS = dict(
    namespace=NAMESPACE,
    image=IMAGE,
    cmds=COMMAND,
    service_account_name="ooni-pipeline",
    security_context=POD_SECURITY,
    container_security_context=CONTAINER_SECURITY,
    container_resources=RESOURCES,
    env_from=S3_SECRET,
    get_logs=True,
    on_finish_action="delete_pod",
    # Time for a stopped run to abandon its batch, release its lease in the bucket and exit.
    termination_grace_period=120,
)

with DAG(
    dag_id="ooni_pipeline_nightly",
    description="OONI archive to Parquet: N shards of ooni-pipeline run, then aggregate",
    schedule="30 3 * * *",  # 03:30 UTC, after OONI's uploader shipped yesterday's last hours
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # two nights' shards would race for the same shard indexes
    params={
        "shards": Param(8, type="integer", minimum=1, maximum=10000, description="N: shards of the run"),
        "since": Param("", type="string", description="YYYY-MM-DD (inclusive); empty: the run's default, yesterday"),
        "until": Param("", type="string", description="YYYY-MM-DD (exclusive); empty: the run's default"),
    },
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
    },
    tags=["ooni", "ooni-pipeline"],
) as dag:

    @task
    def shard_arguments(params=None) -> list[list[str]]:
        """One argument list per shard: `run --shard I/N` with the window, if one was given."""
        count = int(params["shards"])
        window: list[str] = []
        if params.get("since"):
            window += ["--since", params["since"]]
        if params.get("until"):
            window += ["--until", params["until"]]
        return [
            ["run", "--config", CONFIG, "--shard", f"{index}/{count}", *window,
             "--out", OUTPUT, "--work-dir", WORK_DIR, "--json"]
            for index in range(count)
        ]

    shards = KubernetesPodOperator.partial(
        task_id="shard",
        name="ooni-pipeline-shard",
        volumes=[CONFIG_VOLUME, SHARD_WORK_VOLUME],
        volume_mounts=SHARD_MOUNTS,
        max_active_tis_per_dagrun=64,
        **POD_DEFAULTS,
    ).expand(arguments=shard_arguments())

    aggregate = KubernetesPodOperator(
        task_id="aggregate",
        name="ooni-pipeline-aggregate",
        arguments=[
            "aggregate", "--out", OUTPUT, "--work-dir", WORK_DIR,
            "--shards", "{{ params.shards }}", "--json",
        ],
        volumes=[MERGE_CACHE_VOLUME],
        volume_mounts=[WORK_MOUNT],
        **POD_DEFAULTS,
    )

    shards >> aggregate
