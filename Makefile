# ticketrush — the two commands a user needs on a fresh Debian 12 machine:
#   make demo   bootstrap, build, start private services, run the lab's seed scenario for each
#               strategy and print the comparison table
#   make test   bootstrap, build (with ASan/UBSan), start private services, run unit and
#               integration tests, stop the services
#   make bench  the scale scenario for the fast strategies beside the ceilings L (server /livez),
#               S (purchase script alone in Redis) and C = 1/(1/L + 1/S), with each ratio
#   make fuzz   build the libFuzzer harnesses with clang and fuzz each parser of outside input
#               for FUZZ_SECONDS (default 60) per target (scripts/fuzz.sh; FUZZ_ARGS adds options)
#   make chaos  the fault suite: every correct strategy x one fault injected mid-load (server,
#               Redis and PostgreSQL crashes and restarts, network delay/stall/cut through the
#               suite's proxy), two server processes each, audited; then, on a private Redis
#               Cluster mid-festival, a master killed and a slot moved (festival.sh --fault)
#               for redis-atomic fast/replicated/strict and redis-zset; CHAOS_ARGS="--strategy
#               redis-atomic --fault redis-behind" runs one cell (scripts/chaos.sh --help)
#   make festival  30 concerts at once (a Zipf-drawn headliner and a long tail) on a private
#               3-master Redis Cluster, 3 server processes sharing one port (serve --reuse-port),
#               for redis-atomic (fast, replicated, strict), redis-zset and db-atomic, each
#               concert audited alone; exit 3 on an anomaly
#               (scripts/festival.sh --help; FESTIVAL_ARGS adds options)
# Other targets: build, bootstrap, services-start, services-stop, clean.

BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= 2

.PHONY: all build build-asan bootstrap demo bench chaos festival test fuzz services-start services-stop clean

all: build

bootstrap:
	@scripts/bootstrap.sh

build: bootstrap
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: bootstrap
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DTR_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

demo: build
	@scripts/demo.sh $(BUILD)/ticketrush

bench: build
	@scripts/bench.sh $(BUILD)/ticketrush

chaos: build
	@scripts/chaos.sh $(CHAOS_ARGS) $(BUILD)/ticketrush

festival: build
	@scripts/festival.sh $(FESTIVAL_ARGS) $(BUILD)/ticketrush

test: build build-asan
	@scripts/test.sh $(BUILD_ASAN) $(BUILD)

FUZZ_SECONDS ?= 60
fuzz: bootstrap
	@scripts/fuzz.sh --seconds-per-target $(FUZZ_SECONDS) $(FUZZ_ARGS)

services-start: bootstrap
	@scripts/services.sh start

services-stop:
	@scripts/services.sh stop

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) build-fuzz

# make jmeter: the study's JMeter plan (jmeter/ticketrush.jmx) against a server, audited like the
# lab's own runs; installs Debian's jmeter and jmeter-http when missing. JMETER_ARGS passes
# options to scripts/jmeter.sh (e.g. JMETER_ARGS="--strategy naive --strategy redis-lock").
.PHONY: jmeter
jmeter: build
	@scripts/jmeter.sh $(JMETER_ARGS) $(BUILD)/ticketrush
