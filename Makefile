# logstor: one plain GNU Makefile. Objects go to $(BUILD); `make SANITIZER=address,undefined`
# builds a separate tree under build/san so that both can coexist.
#
#   make            build logstord, the clients and the libraries
#   make run        build and start logstord on its embedded defaults
#   make test       install missing Debian packages, build with -Werror, run every test
#                   (unit tests twice: plain and under ASan+UBSan), the simulator (a fixed
#                   time budget), the crash test, the integration tests and a short fuzz run
#   make soak       the long crash/kill soak and simulator run (SIM_SECONDS, default 3600),
#                   then the simulator with checkpoints while running (--checkpoints,
#                   SIM_CKPT_SECONDS, default 600; SIM_CKPT_FIRST; --checkpoints --snapshots
#                   for SIM_SNAP_SECONDS, default 600, from SIM_SNAP_FIRST)
#   make bench      engine and server benchmarks (prints figures)
#   make bench-devget  GETs from the device and hot GETs against fio randread (bench/devget.sh)
#   make fuzz       build the libFuzzer targets (clang)
#   make compat     Redis 7.0.15's own tests against logstord (scripts/compat.sh), then
#                   memcached 1.6.18's (scripts/compat_mc.sh); fails only on a failure not in
#                   tests/compat/known_failures.txt or tests/compat/mc_known_failures.txt
#   make compat-mc  memcached's part alone
#   make format     clang-format every C file

CC       ?= cc
SANITIZER ?=
WERROR   ?= -Werror
OPT      ?= -O2
LUA_CFLAGS := $(shell pkg-config --cflags luajit 2>/dev/null)
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Wshadow -Wformat=2 -Wvla \
              -Wstrict-prototypes -Wmissing-prototypes $(WERROR) -MMD -MP \
              -Iengine -Iproto -Iserver $(LUA_CFLAGS)
ifneq ($(SANITIZER),)
BUILD   ?= build/san
CFLAGS_SAN = -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD   ?= build
CFLAGS_SAN =
endif
CFLAGS  += $(CFLAGS_BASE) $(CFLAGS_SAN)
LDFLAGS += $(CFLAGS_SAN)
LIBS_ENGINE = -luring -lxxhash -lm
LIBS_SERVER = -levent $(shell pkg-config --libs luajit) $(LIBS_ENGINE)

ENGINE_SRC := $(wildcard engine/*.c)
PROTO_SRC  := $(wildcard proto/*.c)
SERVER_SRC := $(wildcard server/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
BENCH_SRC  := $(wildcard bench/*.c)
CRASH_SRC  := $(wildcard tests/crash/*.c)
SIM_SRC    := $(wildcard tests/sim/*.c)
INTEG_SRC  := $(wildcard tests/integration/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
CLIENT_SRC := $(wildcard client/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
ENGINE_LIB := $(BUILD)/libengine.a
PROTO_LIB  := $(BUILD)/libproto.a
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_BIN  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
CRASH_BIN  := $(patsubst tests/crash/%.c,$(BUILD)/tests/%,$(CRASH_SRC))
SIM_BIN    := $(patsubst tests/sim/%.c,$(BUILD)/tests/%,$(SIM_SRC))
INTEG_BIN  := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(INTEG_SRC))
CLIENT_BIN := $(patsubst client/%.c,$(BUILD)/%,$(CLIENT_SRC))
SERVER_BIN := $(if $(SERVER_SRC),$(BUILD)/logstord)

.PHONY: all run test test-unit test-san test-crash test-integration test-fuzz soak bench fuzz \
        format deps clean compat compat-mc
all: $(ENGINE_LIB) $(PROTO_LIB) $(SERVER_BIN) $(CLIENT_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(ENGINE_LIB): $(call obj,$(ENGINE_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(PROTO_LIB): $(call obj,$(PROTO_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/logstord: $(call obj,$(SERVER_SRC)) $(PROTO_LIB) $(ENGINE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_SERVER)
$(BUILD)/%: $(BUILD)/obj/client/%.o $(PROTO_LIB) $(ENGINE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ -lhiredis $(LIBS_ENGINE)
# Server modules with no libevent that have unit tests of their own.
$(BUILD)/tests/test_lockset: $(call obj,server/lockset.c)
$(BUILD)/tests/test_glob: $(call obj,server/glob.c)
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(PROTO_LIB) $(ENGINE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LIBS_ENGINE)
$(BUILD)/tests/%: $(BUILD)/obj/tests/crash/%.o $(ENGINE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ENGINE)
$(BUILD)/tests/%: $(BUILD)/obj/tests/sim/%.o $(ENGINE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ENGINE)
$(BUILD)/tests/%: $(BUILD)/obj/tests/integration/%.o $(PROTO_LIB) $(ENGINE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lhiredis $(LIBS_ENGINE)
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(PROTO_LIB) $(ENGINE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lhiredis $(LIBS_ENGINE)

deps:
	@bash scripts/deps.sh

run: deps
	$(MAKE) $(BUILD)/logstord
	./$(BUILD)/logstord

# Unit tests run twice: an optimized build and one under ASan+UBSan.
test: deps
	$(MAKE) all $(UNIT_BIN) $(CRASH_BIN) $(SIM_BIN) $(INTEG_BIN) $(BENCH_BIN)
	$(MAKE) SANITIZER=address,undefined $(patsubst build/%,build/san/%,$(UNIT_BIN) $(SIM_BIN))
	bash tests/run.sh $(BUILD)

compat: deps
	$(MAKE) $(BUILD)/logstord
	LOGSTORD=$(BUILD)/logstord bash scripts/compat.sh; st=$$?; \
	LOGSTORD=$(BUILD)/logstord bash scripts/compat_mc.sh && exit $$st

compat-mc: deps
	$(MAKE) $(BUILD)/logstord
	LOGSTORD=$(BUILD)/logstord bash scripts/compat_mc.sh

test-unit: $(UNIT_BIN)
	bash tests/run.sh $(BUILD) unit

soak: all $(CRASH_BIN) $(SIM_BIN)
	SOAK=1 bash tests/run.sh $(BUILD) crash sim

bench: all $(BENCH_BIN)
	bash bench/run.sh $(BUILD)

# Device GETs and hot GETs against fio randread at the same queue depth (issue 16); not part
# of `make bench` (it writes about 1.6 GB: the data and fio's file of the same size).
.PHONY: bench-devget
bench-devget: $(BUILD)/logstord
	bash bench/devget.sh $(BUILD)

# BullMQ jobs/s against redis-server (issue 15); needs tests/clients' npm packages.
.PHONY: bench-bullmq
bench-bullmq: $(BUILD)/logstord
	bash bench/bullmq.sh $(BUILD)

# Large streams: XADD fill and consumer-group loads against redis-server (issue 15).
.PHONY: bench-streams
bench-streams: $(BUILD)/logstord
	bash bench/streams.sh $(BUILD)

# Compaction figures (issue 4): WA table, throughput CSV and PNG under bench/out/.
.PHONY: bench-compact
bench-compact: $(BUILD)/bench/bench_compact
	bash bench/compact.sh $(BUILD)

FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
fuzz: $(FUZZ_BIN)
build/fuzz/%: tests/fuzz/%.c $(PROTO_SRC)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Iproto -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $^ -lxxhash

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
