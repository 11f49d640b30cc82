# ooni-pipeline developer commands. `make help` lists them.
# Build output goes outside the clone so repeated clones (CI) reuse compiled dependencies.
export CARGO_TARGET_DIR ?= /var/tmp/ooni-pipeline-target

.PHONY: help sample readme test test-deps lint fuzz-build fuzz-run bench validate-infra

help: ## This list.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

sample: ## Run the job on the embedded sample (offline) and print failure rates.
	cargo run --locked -- run --config pipelines/sample.toml

test-deps: ## Install what the tests need: Python readers (DuckDB, pyarrow, polars), moto (S3), the notebook runner, and Chromium (the report is checked in a browser).
	python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium (Debian package) for the report tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	}

CARGO_MACHETE_VERSION := 0.9.2

lint: ## Formatting, clippy, crate docs without broken links, no unused dependencies (cargo-machete), as CI runs them.
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
	@cargo machete --version 2>/dev/null | grep -q '$(CARGO_MACHETE_VERSION)' \
		|| cargo install --locked cargo-machete --version $(CARGO_MACHETE_VERSION)
	cargo machete

readme: ## The README's first command exactly as written there: the job on the embedded sample.
	@cmd="$$(awk '/^```sh$$/ { inside = 1; next } /^```$$/ { if (inside) exit } inside' README.md)"; \
		test -n "$$cmd" || { echo "README.md: no sh block found"; exit 1; }; \
		echo "$$cmd"; sh -ec "$$cmd"

test: test-deps lint fuzz-build validate-infra readme ## Everything CI checks: lint, the sample is what its generator makes, all tests.
	python3 examples/make_sample.py --check
	cargo test --workspace --doc --locked
	cargo nextest run --workspace --locked --no-fail-fast

# Fuzz targets (fuzz/README.md). cargo-fuzz builds them on stable with `-s none`: without a
# sanitizer it passes rustc only stable -C flags (sancov coverage for libFuzzer). They build
# in their own directory, beside the workspace's, so the instrumented build never
# invalidates it.
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_TARGET_DIR ?= $(CARGO_TARGET_DIR)/fuzz
FUZZ_SECONDS ?= 60
FUZZ := CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR) cargo fuzz

fuzz-build: ## Build the fuzz targets (cargo fuzz), as CI does.
	@cargo fuzz --version 2>/dev/null | grep -qx 'cargo-fuzz $(CARGO_FUZZ_VERSION)' \
		|| cargo install --locked cargo-fuzz --version $(CARGO_FUZZ_VERSION)
	$(FUZZ) build -s none --fuzz-dir fuzz
	@# fuzz/Cargo.lock follows the crates' dependencies by itself (cargo fuzz has no --locked,
	@# and a new dependency of ooni-source must not fail this build): say when it changed.
	@git diff --quiet -- fuzz/Cargo.lock 2>/dev/null \
		|| echo "note: fuzz/Cargo.lock was updated for new dependencies; commit it"

fuzz-run: fuzz-build ## Run each fuzz target for FUZZ_SECONDS (default 60).
	@for target in $$($(FUZZ) list --fuzz-dir fuzz); do \
		echo "== $$target: $(FUZZ_SECONDS) s"; \
		mkdir -p $(FUZZ_TARGET_DIR)/corpus/$$target || exit 1; \
		$(FUZZ) run -s none --fuzz-dir fuzz $$target \
			$(FUZZ_TARGET_DIR)/corpus/$$target fuzz/seeds/$$target \
			-- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

bench: ## Throughput and memory against gzip -dc on a generated 200 MB archive (see benches/README.md).
	bash benches/run.sh

# Deployment files, checked offline (tests/infra/validate.py): the Kubernetes manifests against
# the API schemas, the nightly driver against a fake API, the Containerfile (hadolint), and the
# Airflow DAG imported by Airflow. Airflow (~145 packages, ~450 MB) lives in its own venv
# outside the clone, like CARGO_TARGET_DIR, so CI reuses it: ~1 min to create, then nothing.
AIRFLOW_VENV ?= /var/tmp/ooni-pipeline-venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-$(shell cat tests/infra/airflow-requirements.txt tests/infra/airflow-constraints.txt | cksum | cut -d' ' -f1)

$(AIRFLOW_STAMP): tests/infra/airflow-requirements.txt tests/infra/airflow-constraints.txt
	rm -rf $(AIRFLOW_VENV)
	python3 -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet --disable-pip-version-check \
		-r tests/infra/airflow-requirements.txt -c tests/infra/airflow-constraints.txt
	touch $@

validate-infra: test-deps $(AIRFLOW_STAMP) ## Check the Containerfile, Kubernetes manifests, nightly driver and Airflow DAG offline.
	@command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
	python3 tests/infra/validate.py --airflow-python $(AIRFLOW_VENV)/bin/python
