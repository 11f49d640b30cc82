#!/usr/bin/env bash
# Builds the Containerfile where no container registry is reachable, and smoke-tests the image.
#
#   sudo bash tests/infra/image-check.sh            (root: buildah, debootstrap; ~15 min cold)
#
# Not part of `make test`: it needs root, ~10 GB of disk and a quarter of an hour. It is how
# the Containerfile was checked on the project's machines, which reach Debian's and Rust's
# package registries but no image registry:
#   1. stand-ins for the two base images are built locally under their real names:
#      docker.io/library/debian:trixie-slim from `debootstrap --variant=minbase trixie`, and
#      docker.io/library/rust:1.95-slim-trixie from it plus gcc, libc6-dev and this machine's
#      Rust toolchain (and this machine's CA bundle, for a TLS-intercepting proxy);
#   2. the Containerfile, unchanged, is built with `--build-arg CARGO_PROFILE=dev` (a debug
#      build: ~6 min of compiling instead of ~30; the release path differs only in the
#      profile name);
#   3. the image is run: version, user 10001, licences, tini's exit-3 mapping, a pipeline run
#      on examples/bucket as that user, SIGTERM forwarded by tini (exit 143); then one source
#      file is changed and the rebuild must reuse the dependency layer.
# With a registry at hand, `podman build -t ooni-pipeline:latest -f Containerfile .` is all it
# takes.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${IMAGE_CHECK_DIR:-/var/tmp/ooni-image-check}
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
run=(buildah run --isolation chroot)

if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null \
    || ! command -v rsync >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq buildah debootstrap rsync >/dev/null
fi
mkdir -p "$work"
cd "$work"

if ! buildah inspect docker.io/library/debian:trixie-slim >/dev/null 2>&1; then
    rm -rf rootfs-trixie
    debootstrap --variant=minbase trixie rootfs-trixie http://deb.debian.org/debian >debootstrap.log
    ctr=$(buildah from scratch)
    cp -a rootfs-trixie/. "$(buildah mount "$ctr")/"
    buildah umount "$ctr" >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
    buildah commit -q "$ctr" docker.io/library/debian:trixie-slim
    buildah rm "$ctr" >/dev/null
fi

if ! buildah inspect docker.io/library/rust:1.95-slim-trixie >/dev/null 2>&1; then
    rm -rf toolchain
    mkdir toolchain
    cp -a "$(rustc --print sysroot)"/{bin,lib} toolchain/
    cp /etc/ssl/certs/ca-certificates.crt host-ca.crt
    cat >Rust.Containerfile <<'EOF'
FROM docker.io/library/debian:trixie-slim
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev && rm -rf /var/lib/apt/lists/*
COPY host-ca.crt /etc/ssl/certs/ca-certificates.crt
COPY toolchain /usr/local/rustup/toolchains/local
RUN mkdir -p /usr/local/cargo/bin && for b in cargo rustc rustdoc; do ln -s /usr/local/rustup/toolchains/local/bin/$b /usr/local/cargo/bin/$b; done && rustc --version
EOF
    buildah bud --isolation chroot --network host --pull-never -q \
        -t docker.io/library/rust:1.95-slim-trixie -f Rust.Containerfile .
fi

# The build context: the work tree without build output (as .dockerignore would leave it).
rm -rf ctx
rsync -a --exclude /target --exclude /.git --exclude /out --exclude /fuzz "$repo/" ctx/
build() {
    (cd ctx && buildah bud --isolation chroot --network host --pull-never --layers \
        --build-arg CARGO_PROFILE=dev -t "$1" -f Containerfile .)
}
start=$(date +%s)
build localhost/ooni-pipeline:image-check >build.log 2>&1
echo "built in $(($(date +%s) - start)) s"

ctr=$(buildah from --pull-never localhost/ooni-pipeline:image-check)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
config=$(buildah inspect --format '{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}}' localhost/ooni-pipeline:image-check)
[ "$config" = "10001:10001 [/usr/bin/tini -- /usr/local/bin/ooni-pipeline]" ] || { echo "config: $config"; exit 1; }
"${run[@]}" "$ctr" -- /usr/local/bin/ooni-pipeline --version
[ "$("${run[@]}" "$ctr" -- id -u)" = 10001 ]
"${run[@]}" "$ctr" -- test -s /usr/share/doc/ooni-pipeline/LICENSE-MIT
"${run[@]}" "$ctr" -- test -s /usr/share/doc/ooni-pipeline/LICENSE-APACHE
"${run[@]}" "$ctr" -- test -x /usr/local/bin/ooni-k8s-nightly
"${run[@]}" "$ctr" -- sh -c 'command -v curl && command -v jq' >/dev/null
"${run[@]}" "$ctr" -- /usr/bin/tini -s -e 3 -- sh -c 'exit 3'
if "${run[@]}" "$ctr" -- /usr/bin/tini -s -e 3 -- sh -c 'exit 2' 2>/dev/null; then
    echo "tini -e 3 hid exit 2"; exit 1
fi
"${run[@]}" -v "$repo/examples/bucket:/data:ro" "$ctr" -- /usr/bin/tini -s -e 3 -- \
    /usr/local/bin/ooni-pipeline run --source /data --since 2020-10-01 --until 2020-11-20 \
    --probe-cc AZ --out /tmp/out --json >sample.json
echo "sample run as uid 10001: ok"

# SIGTERM to tini reaches the run, which stops cleanly with 143.
set +e
"${run[@]}" -v "$repo/examples/bucket:/data:ro" "$ctr" -- /usr/bin/tini -s -- \
    /usr/local/bin/ooni-pipeline run --source /data --since 2014-01-01 --until 2026-01-01 \
    --out /tmp/out-sigterm --batch-mib 1 --jobs 1 >sigterm.log 2>&1 &
runner=$!
sleep 1.5
tini=$(pgrep -f -- "--out /tmp/out-sigterm" | while read -r p; do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = tini ] && echo "$p"; done | head -1)
[ -n "$tini" ] && kill -TERM "$tini"
wait "$runner"
status=$?
set -e
[ "$status" = 143 ] || { echo "SIGTERM: exit $status"; tail sigterm.log; exit 1; }
echo "SIGTERM through tini: exit 143"

# A code change rebuilds the workspace crates only: the dependency layer is reused.
echo "// image-check" >>ctx/crates/ooni-s3/src/lib.rs
start=$(date +%s)
build localhost/ooni-pipeline:image-check-2 >rebuild.log 2>&1
grep -q "Using cache" rebuild.log
! grep -q "Compiling polars" rebuild.log || { echo "dependencies were rebuilt"; exit 1; }
echo "rebuilt after a code change in $(($(date +%s) - start)) s, dependency layer cached"
buildah rmi localhost/ooni-pipeline:image-check-2 >/dev/null
echo "image check: 1 passed, 0 failed"
