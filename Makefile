# The developer interface. `make help` lists the targets; CI runs `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
UV := $(PYTHON) -m uv
export UV_PYTHON ?= 3.11

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: uv
uv: ## Install uv into the current Python if it is missing
	@$(PYTHON) -c 'import uv' 2>/dev/null || $(PYTHON) -m pip install --quiet --disable-pip-version-check 'uv>=0.5'

.PHONY: install
install: uv ## Create .venv with every workspace member (builds the Rust core in release mode)
	$(UV) sync --all-packages --locked

.PHONY: run
run: install ## Set up, then run a local devnet on the defaults (127.0.0.1:8545; Ctrl-C stops it)
	$(UV) run citrate devnet

.PHONY: test-deps
test-deps: ## System packages the tests use (GNOME Keyring for the real-keychain test)
	@bash scripts/test-deps.sh

.PHONY: node-tools
node-tools: ## npm tools: anvil (reference node), solc-js + OpenZeppelin (contracts), ipfs-unixfs-importer
	@want=$$(sha256sum tools/package-lock.json | cut -d' ' -f1); \
	test "$$(cat tools/node_modules/.lock-sha256 2>/dev/null)" = "$$want" \
		|| { npm ci --prefix tools --no-audit --no-fund && echo "$$want" > tools/node_modules/.lock-sha256; }

.PHONY: contracts
contracts: install node-tools ## Compile contracts/src into contracts/out and the package's artifacts
	$(UV) run citrate contracts build

.PHONY: contracts-check
contracts-check: install node-tools ## Fail if the committed contract artifacts differ from contracts/src
	$(UV) run citrate contracts check

.PHONY: native-test
native-test: ## cargo test of the Rust core against tests/vectors
	cd native && cargo test --release --locked -p citrate-core -p citrate-chain -p citrate-compute

.PHONY: lint
lint: install ## ruff, mypy, and stubtest of the native stubs
	$(UV) run ruff check packages tests native/python
	$(UV) run ruff format --check packages tests native/python
	$(UV) run mypy
	$(UV) run python -m mypy.stubtest citrate_native._core

.PHONY: pytest
pytest: install ## The pytest suite (benchmarks off)
	HF_HUB_OFFLINE=1 $(UV) run pytest -q

.PHONY: test
test: install test-deps node-tools native-test lint contracts-check pytest ## Everything CI runs

.PHONY: bench
bench: install node-tools ## The benchmark suite (against eth-account, bip_utils, hashlib, anvil, a Python GhostDAG)
	$(UV) run pytest tests/bench --benchmark-enable -s -q

.PHONY: fmt
fmt: install ## Format Python and Rust
	$(UV) run ruff format packages tests native/python
	$(UV) run ruff check --fix packages tests native/python
	cd native && cargo fmt
