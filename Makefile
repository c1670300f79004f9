# execlog: the two commands of the README, and a few more.
#   make run    install what is missing (Debian 12 packages), build, start execlogd
#   make test   the same set-up, then the whole test suite through ctest
# Set ARGS to pass flags to execlogd, e.g. make run ARGS='--listen=127.0.0.1:9090';
# make run TLS=1 also serves h2 over TLS on 127.0.0.1:8443 (self-signed, see ops/tls/).

BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
ARGS       ?=
WERROR     ?= ON

# Build and run dependencies, then the clients the tests drive the service with.
PACKAGES = build-essential cmake pkg-config librdkafka-dev libavro-dev librocksdb-dev \
           libh2o-evloop-dev libjansson-dev libssl-dev zlib1g-dev
TEST_PACKAGES = curl kcat nghttp2-client python3 python3-avro openssl

.PHONY: all deps test-deps build run test asan clean help

all: build

help:
	@sed -n 's/^#   //p' Makefile

deps:
	@ops/install-deps.sh $(PACKAGES)

test-deps:
	@ops/install-deps.sh $(PACKAGES) $(TEST_PACKAGES)

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DXL_WERROR=$(WERROR) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# TLS=1: also h2 over TLS on 127.0.0.1:8443, with a self-signed pair made once in data/tls (ops/tls/)
run: build
	@if [ "$(TLS)" = 1 ]; then ops/tls/dev-cert.sh data/tls; fi
	$(BUILD)/api/execlogd $(if $(filter 1,$(TLS)),--listen.tls=127.0.0.1:8443 --tls.cert=data/tls/dev.crt --tls.key=data/tls/dev.key) $(ARGS)

test: test-deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DXL_WERROR=$(WERROR) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure --timeout 300 -j $(JOBS)

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
asan: test-deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DXL_WERROR=$(WERROR) -DXL_SANITIZE=ON >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure --timeout 600 -j $(JOBS)

clean:
	rm -rf $(BUILD) build-asan

# make bench: execlogd against its ceilings and PostgreSQL (ops/bench/README.md);
# make bench-smoke: the same harness, tiny and fast. Results in $(BENCH_BUILD)/bench*/.
BENCH_BUILD ?= build-bench
.PHONY: bench bench-smoke
bench:
	@ops/bench/bench.sh full $(BENCH_BUILD)

bench-smoke:
	@ops/bench/bench.sh smoke $(BENCH_BUILD)
