# nxm: build, test and check. `make` builds build/nxm.so; `make test` runs the whole test suite.
#
# Flags: strict warnings are errors; only sqlite3_nxm_init is exported; SQLite itself is never linked
# in (the host's SQLite is used through the extension API, one SQLite per process).

CC       ?= cc
PYTHON   ?= /usr/bin/python3
PREFIX   ?= /usr/local
BUILD    := build
VERSION  := $(shell sed -n 's/^\#define NXM_VERSION "\(.*\)"/\1/p' ext/version.h)

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wcast-align -Wwrite-strings -Wformat=2 -Wundef -Wvla
CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=c11 $(WARNINGS) -fPIC -fvisibility=hidden -I$(BUILD) -Iext $(CFLAGS)
LDLIBS   := -lcjson

SOURCES  := $(wildcard ext/*.c)
HEADERS  := $(wildcard ext/*.h) $(BUILD)/schema_sql.h
OBJECTS  := $(SOURCES:ext/%.c=$(BUILD)/%.o)

.PHONY: all test demo clean
all: $(BUILD)/nxm.so

$(BUILD)/schema_sql.h: sql/schema.sql scripts/embed_sql.sh
	@mkdir -p $(BUILD)
	sh scripts/embed_sql.sh nxm_schema_sql < $< > $@

$(BUILD)/%.o: ext/%.c $(HEADERS)
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/nxm.so: $(OBJECTS)
	$(CC) -shared $(ALL_CFLAGS) -o $@ $(OBJECTS) $(LDFLAGS) $(LDLIBS)

test: all
	$(PYTHON) -m pytest -q tests

# The main job end to end: a runner killed with SIGKILL part-way resumes without losing or repeating a task.
demo: all
	sh scripts/demo.sh

clean:
	rm -rf $(BUILD)

# ---- issue 4: fault harness (faults, faults-short) ----
# ---- end issue 4 ----

# ---- issue 5: hardening (fuzz, fuzz-short, sanitize, valgrind, lint) ----
# fuzz: libFuzzer on tests/fuzz/fuzz_sql.c with ASan+UBSan for FUZZ_SECONDS (crashes kept in
# build/fuzz/artifacts, the run goes on after one); fuzz-short: the CI run, stops at the first finding.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 1800
FUZZ_SHORT_SECONDS ?= 60
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_BIN     := $(FUZZ_DIR)/fuzz_sql
FUZZ_FLAGS   := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_RUN     := -max_len=4096 -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
                -artifact_prefix=$(FUZZ_DIR)/artifacts/
.PHONY: fuzz fuzz-short sanitize valgrind lint

$(FUZZ_BIN): tests/fuzz/fuzz_sql.c $(SOURCES) $(HEADERS)
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts
	$(FUZZ_CC) -std=c11 $(WARNINGS) -DSQLITE_CORE -I$(BUILD) -Iext $(FUZZ_FLAGS) -o $@ \
	    tests/fuzz/fuzz_sql.c $(SOURCES) -lsqlite3 -lcjson -lm

fuzz: $(FUZZ_BIN)
	$(FUZZ_BIN) $(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS) -fork=1 -ignore_crashes=1 \
	    -ignore_timeouts=1 -ignore_ooms=1 $(FUZZ_DIR)/corpus tests/fuzz/corpus
	@if ls $(FUZZ_DIR)/artifacts | grep -q .; then \
	    echo "fuzz: findings in $(FUZZ_DIR)/artifacts:"; ls $(FUZZ_DIR)/artifacts; exit 1; fi

fuzz-short: $(FUZZ_BIN)
	$(FUZZ_BIN) $(FUZZ_RUN) -max_total_time=$(FUZZ_SHORT_SECONDS) $(FUZZ_DIR)/corpus tests/fuzz/corpus
# ---- end issue 5 ----

# ---- issue 6: benchmarks (bench) ----
# ---- end issue 6 ----

# ---- issue 7: clients, install, dist, static ----
# ---- end issue 7 ----
