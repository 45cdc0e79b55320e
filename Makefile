# fashionrag — set-up and everyday commands. `make demo` and `make test` work on a fresh clone.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
CATALOG ?= ../shared/datasets/kagl
OUT     ?= out
# 1M adds a multi-hour HNSW build on 2 cores: make bench BENCH_SIZES=10000,100000,1000000
BENCH_SIZES ?= 10000,100000
# Caches (embedding cache, tiny test models) stay inside the checkout unless FASHIONRAG_HOME is set.
export FASHIONRAG_HOME ?= $(CURDIR)/.fashionrag
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: venv demo test bench bench-caption bench-edit serve bench-service bench-scale bench-recall clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	# PyTorch first, pinned, so no dependency can pull a different build.
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e ".[test,openclip,vision,edit,serve,scale]" torch==2.14.1 torchvision==0.29.1
	# MediaPipe's wheel only supplies the pose/segmentation .tflite files (run by ai-edge-litert);
	# its own runtime pins numpy<2, hence --no-deps.
	$(BIN)/pip install --quiet --no-deps mediapipe==0.10.21
	touch $@

demo: venv
	$(BIN)/fashionrag demo --catalog $(CATALOG) --out $(OUT)
	$(BIN)/fashionrag edit-demo --catalog $(CATALOG) --index $(OUT)/index --out $(OUT)/edits.html

test: venv
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/python benchmarks/bench_store.py --sizes $(BENCH_SIZES)

bench-caption: venv
	$(BIN)/python benchmarks/bench_caption.py --catalog $(CATALOG)

bench-edit: venv
	$(BIN)/python benchmarks/bench_edit.py
	@test -f $(OUT)/index/manifest.json || $(MAKE) demo
	$(BIN)/python benchmarks/bench_edit.py --profile lite --index $(OUT)/index

# Scale-out: index build / batch caption throughput local vs Ray (1, 2 workers); FAISS vs Milvus Lite query
# latency at 100k with filters. JSON in benchmarks/results/scale.json; see docs/scale.md.
bench-scale: venv
	$(BIN)/python benchmarks/bench_scale.py --catalog $(CATALOG)

# HNSW recall@10 and latency on vectors shaped like the lite encoder's KAGL embeddings, with the store choosing ef
# for recall 0.95: FAISS at 1M (about 25 min on 2 cores), Milvus Lite at 100k. JSON in
# benchmarks/results/store_1m_realistic.json; see docs/scale.md.
bench-recall: venv
	$(BIN)/python benchmarks/bench_recall.py --n 1000000 --stores faiss --save --extra-targets 0.99,0.995
	$(BIN)/python benchmarks/bench_recall.py --stores milvus --milvus-n 100000 --modes hnsw --milvus-sweep 16,32,64,128 --extra-targets 0.99,0.995

# The HTTP service and web page on the demo index (built by `make demo` when missing): http://127.0.0.1:$(PORT)/
PORT ?= 8000
serve: venv
	@test -f $(OUT)/index/manifest.json || $(MAKE) demo
	$(BIN)/fashionrag serve --index $(OUT)/index --host 127.0.0.1 --port $(PORT)

# Load benchmark: the real server on 127.0.0.1, bounded clients at 1/4/8/32 concurrent; stops by itself.
bench-service: venv
	@test -f $(OUT)/index/manifest.json || $(MAKE) demo
	$(BIN)/python benchmarks/bench_service.py --index $(OUT)/index --catalog $(CATALOG)

clean:
	rm -rf $(OUT) .fashionrag .pytest_cache
