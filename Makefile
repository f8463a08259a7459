# paperscout: the two commands of the quick start are `make run` and `make test`.

CARGO   ?= cargo
SHARED  ?= ../shared
SAMPLE  := $(SHARED)/data/arxiv-cs/sample-2k.jsonl
DEMO    := target/demo
# The demo's web page.
WEB     ?= 127.0.0.1:8737
BIN     := target/debug/paperscout
# A Python with aiosmtpd: the real SMTP server the e-mail tests send to.
TEST_VENV := .venv-test

.PHONY: help model build run test test-venv test-browser test-postgres lint unit bench-embed bench-index bench-ingest bench-digest bench-daemon bench-rerank bench-web bench-store bench-venv clean

help:
	@echo "make run          fetch the model, build, ingest 500 sample papers, start the daemon, show a digest and similar papers"
	@echo "make test         the whole test suite: format, lints, unit and integration tests"
	@echo "make bench-embed  embedding throughput in fp32, bf16 and int8, side by side with PyTorch and ONNX Runtime"
	@echo "make bench-index  index build, memory, recall@10 and queries/s beside exact search, hnswlib and faiss"
	@echo "make bench-ingest ingest papers/s and peak memory, with and without the model"
	@echo "make bench-digest digests for 10,000 users x 1,500 new papers"
	@echo "make bench-daemon queries/s and p50/p99 latency of similar on the socket, 1/8/64 clients"
	@echo "make bench-web    the page of a 50-pick digest and a rating's round trip, 8 clients, beside similar"
	@echo "make bench-rerank 100,000 users x 20,000 candidates, top 50: wall time, memory, kernel FLOP/s"
	@echo "make bench-store  SQLite against PostgreSQL: ingest, 10,000 digests, 100,000-user re-rank, similar on 1 and 2 daemons"
	@echo "make bench-venv   a Python with torch, sentence-transformers, onnxruntime, hnswlib and faiss for the benchmarks"

# Idempotent: checks the hashes of a present model, fetches a missing one.
model:
	models/fetch

# The dev profile, its hot dependencies optimised (see Cargo.toml): quick to build, fast enough to
# run, and the same build `make test` uses.
build:
	$(CARGO) build --bins

# The demo daemon's socket; every command below finds the daemon through it.
run: export PAPERSCOUT_SOCKET = $(abspath $(DEMO))/paperscout.sock

run: model build
	@test -f $(SAMPLE) || { echo "$(SAMPLE) is missing: the demo needs the shared data beside the repository"; exit 1; }
	@mkdir -p $(DEMO)
	@$(BIN) --data-dir $(DEMO)/data --quiet stop 2>/dev/null || true
	head -n 500 $(SAMPLE) > $(DEMO)/papers.jsonl
	$(BIN) model info
	$(BIN) --data-dir $(DEMO)/data ingest $(DEMO)/papers.jsonl
	$(BIN) --data-dir $(DEMO)/data serve --http $(WEB)
	$(BIN) --data-dir $(DEMO)/data status
	$(BIN) --data-dir $(DEMO)/data stats
	sed -n '10p;150p;250p' $(DEMO)/papers.jsonl | grep -o '"id": "[^"]*"' | cut -d'"' -f4 > $(DEMO)/profile.txt
	@$(BIN) --data-dir $(DEMO)/data --quiet user remove demo 2>/dev/null || true
	$(BIN) --data-dir $(DEMO)/data user add demo --papers $(DEMO)/profile.txt --interest "diffusion models for image generation"
	$(BIN) --data-dir $(DEMO)/data digest --user demo --date 2025-03-19 --days 2 --size 5 --dry-run
	$(BIN) --data-dir $(DEMO)/data similar $$(head -n 1 $(DEMO)/profile.txt) -k 5
	$(BIN) --data-dir $(DEMO)/data similar "graph neural networks for molecules" -k 5
	@echo
	@echo "The daemon keeps running on $$PAPERSCOUT_SOCKET (log: $(DEMO)/data/paperscout.log)."
	@echo "The demo user's page (this link signs in for 7 days):"
	@$(BIN) --data-dir $(DEMO)/data user link demo --http $(WEB)
	@echo "Try: PAPERSCOUT_SOCKET=$$PAPERSCOUT_SOCKET $(BIN) recommend --user demo"
	@echo "Stop it with: PAPERSCOUT_SOCKET=$$PAPERSCOUT_SOCKET $(BIN) stop"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --quiet

unit: test-venv test-browser test-postgres
	PAPERSCOUT_TEST_PYTHON=$(abspath $(TEST_VENV))/bin/python PAPERSCOUT_REQUIRE_SMTP=1 \
	PAPERSCOUT_REQUIRE_BROWSER=1 PAPERSCOUT_REQUIRE_POSTGRES=1 $(CARGO) test --workspace

# Idempotent: the headless browser and its WebDriver for the browser tests (Debian packages,
# installed when missing; this needs root, as CI has).
test-browser:
	@command -v chromedriver >/dev/null && command -v chromium >/dev/null || { \
		echo "installing chromium and chromium-driver for the browser tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null \
		|| { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null; }; }

# Idempotent: PostgreSQL's server for the store's PostgreSQL tests (Debian's package, installed
# when missing; the tests start their own servers from its binaries, as a system user when root).
test-postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "installing postgresql for the PostgreSQL store tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >/dev/null \
		|| { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >/dev/null; }; }

# Idempotent: made once, then only checked.
test-venv:
	@$(TEST_VENV)/bin/python -c "import aiosmtpd" 2>/dev/null || { \
		echo "making $(TEST_VENV) with aiosmtpd for the e-mail tests"; \
		python3 -m venv $(TEST_VENV) && $(TEST_VENV)/bin/pip install --quiet aiosmtpd; }

test: model lint unit

bench-embed: model
	$(CARGO) bench --bench embed_throughput

bench-index:
	$(CARGO) bench --bench index_search

bench-ingest: model
	$(CARGO) bench --bench ingest_throughput

bench-digest:
	$(CARGO) bench --bench digest_batch

bench-web: model
	$(CARGO) bench --bench web_load

bench-daemon: model
	$(CARGO) bench --bench daemon_load

bench-rerank:
	$(CARGO) bench --bench rerank_batch

bench-store: model test-postgres
	$(CARGO) bench --bench store_backends

bench-venv:
	python3 -m venv .venv-bench
	.venv-bench/bin/pip install torch sentence-transformers onnx onnxscript onnxruntime numpy hnswlib faiss-cpu

clean:
	$(CARGO) clean
	rm -rf $(DEMO)
