# ooni-pipeline developer commands. `make help` lists them.
# Build output goes outside the clone so repeated clones (CI) reuse compiled dependencies.
export CARGO_TARGET_DIR ?= /var/tmp/ooni-pipeline-target

.PHONY: help sample test test-deps lint bench

help: ## This list.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

sample: ## Run the job on the embedded sample (offline) and print failure rates.
	cargo run --locked -- run --config pipelines/sample.toml

test-deps: ## Install what the tests need: Python readers (DuckDB, pyarrow, polars) and moto (S3).
	python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

lint: ## Formatting and clippy, as CI runs them.
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

test: test-deps lint ## Everything CI checks: lint, the sample is what its generator makes, all tests.
	python3 examples/make_sample.py --check
	cargo test --workspace --doc --locked
	cargo nextest run --workspace --locked --no-fail-fast

bench: ## Throughput and memory against gzip -dc on a generated 200 MB archive (see benches/README.md).
	bash benches/run.sh
