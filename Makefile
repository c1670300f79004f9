# execlog: the two commands of the README, and a few more.
#   make run    install what is missing (Debian 12 packages), build, start execlogd
#   make run KAFKA=cluster  the same on a local 3-broker Kafka cluster, with two execlogd nodes
#   make test   the same set-up, then the whole test suite through ctest, then make fuzz-smoke
#   make tsan   the unit tests and the e2e suites (embedded broker) built with ThreadSanitizer, in build/tsan
#   make fuzz   every libFuzzer target of tests/fuzz for FUZZ_SECONDS (60) each, built with clang
#   make kafka-up  a real 3-broker Apache Kafka 4 cluster on 127.0.0.1 (ops/kafka/README.md); make kafka-down stops it
#   make install  execlogd, its systemd units, the execlog user (sysusers.d), examples, dashboard, alerts
#                 (PREFIX=/usr/local, DESTDIR= for a staging directory; README "Installing as a service")
# Set ARGS to pass flags to execlogd, e.g. make run ARGS='--listen=127.0.0.1:9090';
# make run TLS=1 also serves h2 over TLS on 127.0.0.1:8443 (self-signed, see ops/tls/).

BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
ARGS       ?=
WERROR     ?= ON

# Build and run dependencies, then the clients the tests drive the service with.
PACKAGES = build-essential cmake pkg-config librdkafka-dev libavro-dev librocksdb-dev \
           libh2o-evloop-dev libjansson-dev libssl-dev zlib1g-dev libsystemd-dev \
           curl jq # the README's examples
TEST_PACKAGES = curl kcat nghttp2-client python3 python3-avro python3-venv openssl clang libclang-rt-14-dev llvm \
                prometheus systemd chromium
# Test tools from PyPI, pinned in tests/requirements.txt, in a venv that also sees Debian's python3-avro
VENV ?= $(HOME)/.cache/execlog/venv

.PHONY: all deps test-deps build run test asan tsan clean help install

all: build

help:
	@sed -n 's/^#   //p' Makefile

deps:
	@ops/install-deps.sh $(PACKAGES)

# make test also runs the real-cluster lane (ctest label kafka: a 3-node Kafka from ops/kafka), hence the JDK and Maven
test-deps:
	@ops/install-deps.sh $(PACKAGES) $(TEST_PACKAGES) $(KAFKA_PACKAGES)
	@$(MAKE) --no-print-directory py-tools
	@$(MAKE) --no-print-directory ui-tools

# the venv is rebuilt when tests/requirements.txt changes (a stamp beside it)
.PHONY: py-tools
py-tools:
	@if ! cmp -s tests/requirements.txt $(VENV)/.requirements 2>/dev/null; then \
	   echo "installing the Python test tools (tests/requirements.txt) into $(VENV)"; \
	   rm -rf $(VENV) && /usr/bin/python3 -m venv --system-site-packages $(VENV) && \
	   $(VENV)/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt && \
	   cp tests/requirements.txt $(VENV)/.requirements; \
	fi

# the console's browser tests (tests/ui/): playwright-core, pinned in tests/ui/package-lock.json, in
# tests/ui/node_modules with the machine's Node.js (20 or later) and npm; npm ci again when the lock file
# changes (a copy of it in node_modules is the stamp). It drives Debian's chromium, never a browser of its own.
.PHONY: ui-tools
ui-tools:
	@if ! cmp -s tests/ui/package-lock.json tests/ui/node_modules/.execlog-lock 2>/dev/null; then \
	   echo "installing the console's test tools (tests/ui/package-lock.json) into tests/ui/node_modules"; \
	   cd tests/ui && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.execlog-lock; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DXL_WERROR=$(WERROR) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The units name the binary by its full path, so the build is configured with the prefix.
PREFIX  ?= /usr/local
DESTDIR ?=
install: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DXL_WERROR=$(WERROR) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j $(JOBS) --target execlogd execlog
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD)
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	   systemd-sysusers $(PREFIX)/lib/sysusers.d/execlog.conf && \
	   systemd-tmpfiles --create $(PREFIX)/lib/tmpfiles.d/execlog.conf && systemctl daemon-reload; \
	 fi

# TLS=1: also h2 over TLS on 127.0.0.1:8443, with a self-signed pair made once in data/tls (ops/tls/)
# KAFKA=cluster: the local Kafka cluster (make kafka-up) and two nodes on it, :8080 and :8081
run: build
	@if [ "$(TLS)" = 1 ]; then ops/tls/dev-cert.sh data/tls; fi
ifeq ($(KAFKA),cluster)
	@$(MAKE) --no-print-directory kafka-up
	ops/kafka/run-nodes.sh $(BUILD)/api/execlogd $(ARGS)
else
	$(BUILD)/api/execlogd $(if $(filter 1,$(TLS)),--listen.tls=127.0.0.1:8443 --tls.cert=data/tls/dev.crt --tls.key=data/tls/dev.key) $(ARGS)
endif

test: test-deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DXL_WERROR=$(WERROR) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure --timeout 300 -j $(JOBS)
	$(MAKE) fuzz-smoke

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
asan: test-deps
	cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DXL_WERROR=$(WERROR) -DXL_SANITIZE=ON >/dev/null
	cmake --build build/asan -j $(JOBS)
	cd build/asan && ctest --output-on-failure --timeout 600 -j $(JOBS)

# The unit tests and the e2e suites on the embedded broker built with ThreadSanitizer (XL_TSAN), in build/tsan;
# a race report fails its test (exit 66); library-internal reports are suppressed in tests/tsan.supp. ~10 min.
TSAN_TIMEOUT ?= 600
tsan: test-deps
	cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXL_WERROR=$(WERROR) -DXL_TSAN=ON >/dev/null
	cmake --build build/tsan -j $(JOBS)
	cd build/tsan && ctest --output-on-failure --timeout $(TSAN_TIMEOUT) -j $(JOBS) -LE kafka

clean:
	rm -rf $(BUILD) build

# make bench: execlogd against its ceilings and PostgreSQL (ops/bench/README.md);
# make bench-smoke: the same harness, tiny and fast. Results in $(BENCH_BUILD)/bench*/.
# PROFILE=1: also a perf profile of execlogd during each measurement ($(BENCH_BUILD)/bench*/profiles/).
BENCH_BUILD ?= build/bench-release
.PHONY: bench bench-smoke
bench:
	@PROFILE=$(PROFILE) ops/bench/bench.sh full $(BENCH_BUILD) $(KAFKA)

bench-smoke:
	@PROFILE=$(PROFILE) ops/bench/bench.sh smoke $(BENCH_BUILD) $(KAFKA)

# make fuzz: the libFuzzer targets of tests/fuzz (tests/fuzz/README.md), built
# with clang in build/fuzz, FUZZ_SECONDS each over a copy of their seeds;
# make fuzz-smoke: the same for ~5 s each (make test runs it).
FUZZ_SECONDS ?= 60
.PHONY: fuzz fuzz-smoke fuzz-build
fuzz-build: test-deps
	cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXL_WERROR=$(WERROR) \
	      -DXL_FUZZ=ON >/dev/null
	cmake --build build/fuzz -j $(JOBS) --target xl_fuzz_targets

fuzz-smoke: fuzz-build
	cd build/fuzz && ctest -L fuzz --output-on-failure --timeout 120 -j $(JOBS)

fuzz: fuzz-build
	cd build/fuzz && XL_FUZZ_SECONDS=$(FUZZ_SECONDS) ctest -L fuzz --output-on-failure \
	    --timeout $$(($(FUZZ_SECONDS) + 120)) -j $(JOBS); rc=$$?; cat tests/fuzz/runs/*/summary 2>/dev/null; exit $$rc

# make kafka-up / kafka-down: three Apache Kafka 4.x KRaft nodes on 127.0.0.1
# (RF 3, min.insync.replicas=2), jars from Maven Central cached in
# ~/.cache/execlog, state in build/kafka-cluster/ (ops/kafka/README.md);
# make kafka-status shows the nodes, make kafka-smoke runs its fault smoke check.
KAFKA_PACKAGES = openjdk-17-jre-headless maven kcat
.PHONY: kafka-deps kafka-up kafka-down kafka-status kafka-smoke
kafka-deps:
	@ops/install-deps.sh $(KAFKA_PACKAGES)

kafka-up: kafka-deps
	@ops/kafka/kafka.sh up

kafka-down:
	@ops/kafka/kafka.sh down

kafka-status:
	@ops/kafka/kafka.sh status

kafka-smoke: kafka-deps
	@ops/kafka/smoke.sh
