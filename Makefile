# rtloop — `make help` lists the targets. Everything installs itself on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY_VERSION ?= 3.11
VENV ?= .venv
CACHE ?= .cache/rtloop
JARS := $(CACHE)/jars
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(VENV)/bin/
EXTRAS ?= --extra dev --extra ingest --extra features --extra scorer --extra train --extra monitor --extra deploy
MVN := mvn -q -B -s infra/jvm/settings.xml

.PHONY: help venv jars up down status logs policy topics docs schemas feast-apply lint test test-unit test-integration demo bench quality chaos mutation clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(VENV)/.synced: pyproject.toml uv.lock Makefile
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install -q "uv==0.13.8"
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen $(EXTRAS) --python $(PY_VERSION)
	@touch $@

venv: $(VENV)/.synced ## create the virtual environment from uv.lock (base + dev)

$(JARS)/kafka/.resolved: infra/jvm/kafka/pom.xml infra/jvm/settings.xml
	@command -v mvn >/dev/null || { echo "Maven is missing: apt-get install maven (Java 17+ too)"; exit 1; }
	rm -rf $(JARS)/kafka && mkdir -p $(JARS)/kafka
	$(MVN) -f infra/jvm/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=$(abspath $(JARS)/kafka)
	@touch $@

$(JARS)/spark/.resolved: infra/jvm/spark/pom.xml infra/jvm/settings.xml
	@command -v mvn >/dev/null || { echo "Maven is missing: apt-get install maven (Java 17+ too)"; exit 1; }
	rm -rf $(JARS)/spark && mkdir -p $(JARS)/spark
	$(MVN) -f infra/jvm/spark/pom.xml dependency:copy-dependencies -DoutputDirectory=$(abspath $(JARS)/spark)
	@touch $@

jars: $(JARS)/kafka/.resolved $(JARS)/spark/.resolved ## resolve the Kafka broker, Spark-Kafka and Delta jars with mvn (once)

up: venv jars ## the whole loop in the background: Kafka, Redis (REDIS_URL local), topics, Feast, the 4 services
	$(RUN)rtloop up

down: venv ## stop everything `make up` started (no process is left; data is kept)
	$(RUN)rtloop down

status: venv ## the supervisor, every service's health and restarts, the scorer's replicas and lag
	$(RUN)rtloop status

logs: venv ## the list of logs; `rtloop logs NAME -f` follows one
	$(RUN)rtloop logs

topics: venv ## create or update the topics of infra/topics.yaml
	$(RUN)rtloop topics apply

docs: venv ## write docs/reference.md (configuration and CLI) from the settings and the CLI
	$(RUN)rtloop docs reference

schemas: venv ## export the contracts' JSON Schemas to infra/schemas/
	$(RUN)rtloop schemas export

feast-apply: venv ## render infra/feast/feature_store.yaml (REDIS_URL → Redis, else sqlite) and apply it
	$(RUN)rtloop features apply

lint: venv ## ruff, mypy, and checks that infra/schemas and docs/reference.md are current
	$(RUN)ruff check services usecases tests benchmarks infra
	$(RUN)ruff format --check services usecases tests benchmarks infra
	$(RUN)mypy
	$(RUN)rtloop schemas export --check
	$(RUN)rtloop k8s topics --check
	$(RUN)rtloop docs reference --check

policy: venv ## checkov (pinned, offline) on the rendered k8s overlays and the Dockerfiles: zero failed checks
	$(RUN)rtloop k8s policy

test-unit: venv ## unit tests (pure code, no broker)
	$(RUN)pytest tests/unit -q

test-integration: venv jars ## integration tests against a real Kafka broker
	$(RUN)pytest tests/integration tests/e2e -q

test: lint venv jars ## everything CI runs: lint, unit, integration and slow tests
	$(RUN)pytest -q

demo: venv jars ## the whole loop on the embedded default: replay → ingest → features → train → scorer, summary
	$(RUN)rtloop demo

bench: venv jars ## benchmarks; figures on stdout, last line BENCH {json}
	$(RUN)python -m benchmarks

quality: venv jars ## the book's protocol through the stream at full scale (~20 min on 2 cores); figures only
	$(RUN)python -m benchmarks quality

chaos: venv jars ## the fault suite (tests/chaos): one line per scenario, `faults N, events M, lost 0, …`; not in CI
	$(RUN)pytest tests/chaos -m chaos -q -s

MUTATED = "services.features.windows*" "services.common.usecase.views*" "services.tools.runtime.supervisor.keda*" \
	"services.common.evaluation*" "usecases.fraud.evaluation*" "services.training.candidates.x_decision_threshold*" \
	"services.scorer.transforms.x_prediction_dicts*" "services.ingest.transforms*"

mutation: venv ## mutation testing of the pure cores ([tool.mutmut], docs/testing.md); not in CI
	rm -rf mutants
	$(RUN)python tests/mutation.py run $(MUTATED)  # mutmut, its stray SIGXCPU kept off other processes
	$(RUN)mutmut results

clean: ## remove the venv, caches and the lake (jars stay)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache data mutants
