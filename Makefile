# execlog: the two commands of the README, and a few more.
#   make run    install what is missing (Debian 12 packages), build, start execlogd
#   make test   the same set-up, then the whole test suite through ctest
# Set ARGS to pass flags to execlogd, e.g. make run ARGS='--listen=127.0.0.1:9090'.

BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
ARGS       ?=
WERROR     ?= ON

# Build and run dependencies, then the clients the tests drive the service with.
PACKAGES = build-essential cmake pkg-config librdkafka-dev libavro-dev librocksdb-dev \
           libh2o-evloop-dev libjansson-dev libssl-dev
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

run: build
	$(BUILD)/execlogd $(ARGS)

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
