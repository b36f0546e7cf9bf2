# Entry points for people and CI. Everything runs through the project's own virtualenv, which
# `make` creates from pyproject.toml on first use.
PYTHON ?= python3
VENV ?= .venv
KPB := $(VENV)/bin/kpb
ENV ?= dev
KPB_FLAGS ?=
# Extra `kpb build` options, e.g. inline secrets (docs/stack.md#secrets):
#   make build ENV=dev BUILD_FLAGS='--ext-code-file secrets=secrets/dev.json'
BUILD_FLAGS ?=

.PHONY: help vendor update build build-all validate check check-manifests test test-real lint bench bench-noop clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# Quiet on success; the whole pip log is shown when the install fails.
$(VENV)/.installed: pyproject.toml
	@echo "installing kpb and its dependencies into $(VENV)/ (log: $(VENV)/install.log)"
	@$(PYTHON) -m venv $(VENV)
	@( $(VENV)/bin/pip install --upgrade pip && $(VENV)/bin/pip install -e '.[dev]' ) \
		> $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@touch $@

vendor: $(VENV)/.installed ## Make vendor/ exactly what jsonnetfile.lock.json pins
	$(KPB) $(KPB_FLAGS) vendor

update: $(VENV)/.installed ## Move dependencies to the newest commit of their version (DEPS=… to limit)
	$(KPB) $(KPB_FLAGS) update $(DEPS)

# --vendor: make vendor/ match the lock first (without it a stale vendor/ stops the build, exit 4).
build: $(VENV)/.installed ## Vendor, then build manifests/$(ENV) (ENV=dev|stg|prd)
	$(KPB) $(KPB_FLAGS) build --vendor $(BUILD_FLAGS) $(ENV)

build-all: $(VENV)/.installed ## Vendor, then build every environment
	$(KPB) $(KPB_FLAGS) build --vendor $(BUILD_FLAGS) --all

validate: $(VENV)/.installed ## Validate every environment's built manifests (kpb validate --all)
	$(KPB) $(KPB_FLAGS) validate --all

# manifests/ is git-ignored here, so a fresh CI checkout has nothing for `build --check` to compare
# with: `check` proves vendor/ matches the lock and every environment builds, into a temporary
# directory (the work tree is not touched), and that every environment validates (docs/validation.md).
# Repositories that commit manifests/ use check-manifests.
check: vendor ## CI: fail when vendor/ differs from the lock or an environment does not build or validate
	$(KPB) $(KPB_FLAGS) vendor --verify
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
		echo "$(KPB) $(KPB_FLAGS) build $(BUILD_FLAGS) --all --force --validate --output $$out" && \
		$(KPB) $(KPB_FLAGS) build $(BUILD_FLAGS) --all --force --validate --output "$$out"

check-manifests: vendor ## For repositories that commit manifests/: fail when it is out of date
	$(KPB) $(KPB_FLAGS) build $(BUILD_FLAGS) --check --all

test: $(VENV)/.installed ## Lint, type-check and run the test suite
	$(VENV)/bin/ruff check kubeprom_build tests benchmarks
	$(VENV)/bin/ruff format --check kubeprom_build tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -n auto --durations=20

test-real: $(VENV)/.installed ## Real-world tests against local kube-prometheus mirrors (KPB_MIRRORS=DIR, docs/realworld.md)
	KPB_MIRRORS=$(KPB_MIRRORS) $(VENV)/bin/pytest -m realworld --durations=10

bench: $(VENV)/.installed ## Run the benchmarks (prints ratios against the reference pipelines)
	$(VENV)/bin/python benchmarks/bench_vendor.py
	$(VENV)/bin/python benchmarks/bench_build.py
	$(VENV)/bin/python benchmarks/bench_noop.py
	$(VENV)/bin/python benchmarks/bench_validate.py

# Needs the mirrors of docs/realworld.md; JB_ENV sources jb's environment, e.g. /work/tools/jb-env.sh.
bench-noop: $(VENV)/.installed ## No-op vendor/build against jb's no-op on kube-prometheus (KPB_MIRRORS=DIR)
	KPB_MIRRORS=$(KPB_MIRRORS) $(VENV)/bin/python benchmarks/bench_noop.py $(if $(JB_ENV),--jb-env $(JB_ENV))

clean: ## Remove the virtualenv and caches (not vendor/ or manifests/)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
