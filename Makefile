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
HEADERS  := $(wildcard ext/*.h) $(BUILD)/schema_sql.h $(BUILD)/schema_v1_sql.h
OBJECTS  := $(SOURCES:ext/%.c=$(BUILD)/%.o)

.PHONY: all test demo format format-check clean
all: $(BUILD)/nxm.so

$(BUILD)/schema_sql.h: sql/schema.sql scripts/embed_sql.sh
	@mkdir -p $(BUILD)
	sh scripts/embed_sql.sh nxm_schema_sql < $< > $@

$(BUILD)/schema_v1_sql.h: sql/history/schema_v1.sql scripts/embed_sql.sh
	@mkdir -p $(BUILD)
	sh scripts/embed_sql.sh nxm_schema_v1_sql < $< > $@

$(BUILD)/%.o: ext/%.c $(HEADERS)
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/nxm.so: $(OBJECTS)
	$(CC) -shared $(ALL_CFLAGS) -o $@ $(OBJECTS) $(LDFLAGS) $(LDLIBS)

test: all
	@$(PYTHON) -c 'import sqlite3, sys; sys.exit(not hasattr(sqlite3.Connection, "enable_load_extension"))' \
	  || { echo "make test: $(PYTHON) has a sqlite3 module that cannot load extensions; use PYTHON=/usr/bin/python3"; exit 2; }
	@$(PYTHON) -c 'import pytest' 2>/dev/null \
	  || { echo "make test: pytest is missing for $(PYTHON); run: sh scripts/install_deps.sh"; exit 2; }
	$(PYTHON) -m pytest -q tests

# The main job end to end: a runner killed with SIGKILL part-way resumes without losing or repeating a task.
demo: all
	bash scripts/demo.sh

# The C style is .clang-format's; CI fails on a file that drifts from it.
format:
	clang-format -i ext/*.c ext/*.h

format-check:
	@for f in ext/*.c ext/*.h; do clang-format "$$f" | diff -u "$$f" - || { echo "format-check: $$f is not formatted (make format)"; exit 1; }; done

clean:
	rm -rf $(BUILD)

# ---- issue 4: fault harness (faults, faults-short) ----
# faults:       the long run (>= 1000 SIGKILLs, >= 1000 simulated power losses, every I/O fault and failed
#               allocation, restart storms, minutes of load); prints the table of faults and damage.
# faults-short: the CI run, a few minutes, every kind of fault. faults-bin: just the C drivers.
# The C drivers (tests/faults/) compile ext/ in with -DSQLITE_CORE against the system SQLite so that
# they can register a test VFS and failing allocators in their own process; asan/ has the same drivers
# under AddressSanitizer + LeakSanitizer (clang).
FAULTS_BUILD   := $(BUILD)/faults
FAULTS_CFLAGS  := $(filter-out -fvisibility=hidden -fPIC,$(ALL_CFLAGS)) -DSQLITE_CORE -Itests/faults
FAULTS_ASAN_CC ?= clang
FAULTS_SUPPORT := tests/faults/fault_vfs.c tests/faults/harness.c tests/faults/calls.c
FAULTS_DEPS    := $(FAULTS_SUPPORT) $(wildcard tests/faults/*.h) $(SOURCES) $(HEADERS)
FAULTS_NAMES   := power_loss io_faults oom
FAULTS_BINS    := $(FAULTS_NAMES:%=$(FAULTS_BUILD)/%) $(FAULTS_NAMES:%=$(FAULTS_BUILD)/asan/%)

.PHONY: faults faults-short faults-bin
faults-bin: $(FAULTS_BINS)

$(FAULTS_BUILD)/asan/%: tests/faults/%.c $(FAULTS_DEPS)
	@mkdir -p $(@D)
	$(FAULTS_ASAN_CC) $(FAULTS_CFLAGS) -O1 -fsanitize=address -fno-omit-frame-pointer -o $@ $< \
	  $(FAULTS_SUPPORT) $(SOURCES) -lsqlite3 $(LDLIBS)

$(FAULTS_BUILD)/%: tests/faults/%.c $(FAULTS_DEPS)
	@mkdir -p $(@D)
	$(CC) $(FAULTS_CFLAGS) -o $@ $< $(FAULTS_SUPPORT) $(SOURCES) -lsqlite3 $(LDLIBS)

faults-short: all faults-bin
	$(PYTHON) scripts/faults/run_faults.py --size short

faults: all faults-bin
	$(PYTHON) scripts/faults/run_faults.py --size long
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
	-$(FUZZ_BIN) $(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS) -fork=1 -ignore_crashes=1 \
	    -ignore_timeouts=1 -ignore_ooms=1 $(FUZZ_DIR)/corpus tests/fuzz/corpus
	@if ls $(FUZZ_DIR)/artifacts | grep -q .; then \
	    echo "fuzz: findings in $(FUZZ_DIR)/artifacts:"; ls $(FUZZ_DIR)/artifacts; exit 1; fi
	@echo "fuzz: no findings in $(FUZZ_SECONDS) s"

fuzz-short: $(FUZZ_BIN)
	$(FUZZ_BIN) $(FUZZ_RUN) -max_total_time=$(FUZZ_SHORT_SECONDS) $(FUZZ_DIR)/corpus tests/fuzz/corpus \
	    tests/fuzz/regressions

# The same harness without libFuzzer or sanitizers: replays inputs (under valgrind, or any compiler).
$(FUZZ_DIR)/replay: tests/fuzz/fuzz_sql.c tests/fuzz/replay_main.c $(SOURCES) $(HEADERS)
	@mkdir -p $(FUZZ_DIR)
	$(CC) -std=c11 $(WARNINGS) -DSQLITE_CORE -I$(BUILD) -Iext $(CFLAGS) -o $@ tests/fuzz/fuzz_sql.c \
	    tests/fuzz/replay_main.c $(SOURCES) -lsqlite3 -lcjson -lm

# sanitize: the whole pytest suite against an ASan+UBSan build of nxm.so. The build and the run happen in a
# copy of the tree (build/sanitize/tree) so build/nxm.so stays the normal one. Python is not instrumented, so
# the ASan runtime is preloaded (and inherited by every child: the shell, node, writer processes); leak
# checking is off because CPython keeps memory at exit on purpose -- leaks are the fuzzer's and valgrind's job.
# Left out, because they install their own preloads or allocator hooks that cannot share a process with
# ASan: the fault-injection suites (test_faults_*.py, issue 4) and the two pretend-old-SQLite preload tests.
SANITIZE_TREE  := $(BUILD)/sanitize/tree
SANITIZE_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
SANITIZE_ENV    = LD_PRELOAD=$$($(FUZZ_CC) -print-file-name=libclang_rt.asan-x86_64.so) \
                  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
SANITIZE_SKIP  := --ignore-glob='tests/test_faults_*.py' \
    --deselect tests/static/test_static_link.py::test_shared_object_refuses_to_load_under_an_older_sqlite \
    --deselect tests/static/test_static_link.py::test_shared_object_loads_at_exactly_the_minimum
PYTEST_ARGS    ?=
sanitize:
	rm -rf $(SANITIZE_TREE) && mkdir -p $(SANITIZE_TREE)
	tar --exclude=./build --exclude=./.git --exclude=node_modules -cf - . | tar -C $(SANITIZE_TREE) -xf -
	if [ -d tests/clients/node/node_modules ]; then \
	    ln -s $(CURDIR)/tests/clients/node/node_modules $(SANITIZE_TREE)/tests/clients/node/node_modules; fi
	$(MAKE) -C $(SANITIZE_TREE) CC=$(FUZZ_CC) CFLAGS="$(SANITIZE_FLAGS)" all
	nm -D $(SANITIZE_TREE)/build/nxm.so | grep -q __asan_report || { echo "sanitize: nxm.so is not instrumented"; exit 1; }
	$(SANITIZE_ENV) $(PYTHON) -c 'import ctypes; ctypes.CDLL(None).__asan_init' || \
	    { echo "sanitize: the ASan runtime is not loaded into $(PYTHON)"; exit 1; }
	cd $(SANITIZE_TREE) && $(SANITIZE_ENV) $(PYTHON) -m pytest -q -p no:cacheprovider tests $(SANITIZE_SKIP) $(PYTEST_ARGS)

# valgrind: memcheck with full leak checking over the fuzz corpus and regressions (C only, so every leak is
# ours), then the hostile-input tests through Python (errors only: CPython keeps memory at exit on purpose).
VALGRIND := valgrind --quiet --error-exitcode=99 --track-origins=yes
valgrind: all $(FUZZ_DIR)/replay
	NXM_FUZZ_DIR=$(CURDIR)/$(FUZZ_DIR) $(VALGRIND) --leak-check=full --errors-for-leak-kinds=definite,indirect \
	    --show-leak-kinds=definite,indirect $(FUZZ_DIR)/replay tests/fuzz/corpus tests/fuzz/regressions
	PYTHONMALLOC=malloc $(VALGRIND) --leak-check=no $(PYTHON) -m pytest -q -p no:cacheprovider \
	    tests/test_bad_input.py tests/test_untrusted_db.py $(PYTEST_ARGS)

# lint: cppcheck and clang-tidy over ext/, both must be silent. memset_s (Annex K) is not in glibc, so the
# analyzer's advice to use it is off.
TIDY_CHECKS := -*,clang-analyzer-*,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,\
               bugprone-*,-bugprone-easily-swappable-parameters,cert-err33-c,misc-redundant-expression
lint: $(BUILD)/schema_sql.h $(BUILD)/schema_v1_sql.h
	cppcheck --std=c11 --enable=warning,style,performance,portability --inline-suppr --error-exitcode=1 \
	    --quiet -I ext -I $(BUILD) --suppress=missingIncludeSystem ext/
	clang-tidy --quiet --warnings-as-errors='*' --checks='$(TIDY_CHECKS)' $(SOURCES) -- \
	    -std=c11 -Iext -I$(BUILD) -DSQLITE_CORE
# ---- end issue 5 ----

# ---- issue 6: benchmarks (bench) ----
# `make bench` prints the performance table (README, "Performance"); bench-quick is a smoke run of it;
# bench-profile shows where the instructions of the hot paths go (callgrind). The programs link the
# system SQLite and load build/nxm.so, like any application would.
BENCH_SRC     := scripts/bench
BENCH_BINS    := $(patsubst %,$(BUILD)/bench/bench_%,append durable recover maintenance concurrency hot)
BENCH_SHARED  := $(addprefix $(BENCH_SRC)/,bench_util.c writer.c populate.c counting_malloc.c)
BENCH_CFLAGS  := -std=c11 $(WARNINGS) -I$(BUILD) -I$(BENCH_SRC) $(CFLAGS)

.PHONY: bench bench-quick bench-profile
bench: $(BUILD)/nxm.so $(BENCH_BINS)
	$(PYTHON) $(BENCH_SRC)/run_bench.py

bench-quick: $(BUILD)/nxm.so $(BENCH_BINS)
	$(PYTHON) $(BENCH_SRC)/run_bench.py --quick

bench-profile: $(BUILD)/nxm.so $(BENCH_BINS)
	sh $(BENCH_SRC)/profile.sh

$(BUILD)/bench/bench_%: $(BENCH_SRC)/bench_%.c $(BENCH_SHARED) $(wildcard $(BENCH_SRC)/*.h) $(BUILD)/schema_sql.h
	@mkdir -p $(BUILD)/bench
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_SHARED) -lsqlite3
# ---- end issue 6 ----

# ---- issue 7: clients, install, dist, static ----
# install: $(DESTDIR)$(LIBDIR)/nxm.so (load it as $(LIBDIR)/nxm), sql/*.sql in $(DATADIR), the README
# in $(DOCDIR); uninstall removes exactly those. dist: $(DIST_DIR)/nxm-$(VERSION)-<os>-<arch>.tar.gz,
# reproducible (sorted, mtime 0, root-owned), with SHA256SUMS inside and a .sha256 beside it.
# static-test: ext/*.c compiled into a program (tests/static); clients-test: every client (tests/clients),
# with clients-deps building better-sqlite3 from the npm registry's tarball, nothing else downloaded.
LIBDIR    ?= $(PREFIX)/lib/sqlite3
DATADIR   ?= $(PREFIX)/share/nxm
DOCDIR    ?= $(PREFIX)/share/doc/nxm
DIST_DIR  ?= $(BUILD)
PLATFORM  := $(shell uname -s | tr A-Z a-z)-$(shell uname -m)
DIST_NAME := nxm-$(VERSION)-$(PLATFORM)
SQL_FILES := $(wildcard sql/*.sql)
DIST_FILES := $(BUILD)/nxm.so $(SQL_FILES) README.md $(wildcard LICENSE)
NODE_DEPS := tests/clients/node/node_modules/better-sqlite3/package.json
.PHONY: install uninstall dist static-test clients-deps clients-test

install: $(BUILD)/nxm.so $(SQL_FILES) README.md
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/nxm.so $(DESTDIR)$(LIBDIR)/nxm.so
	install -m 0644 $(SQL_FILES) $(DESTDIR)$(DATADIR)/
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/nxm.so $(DESTDIR)$(DOCDIR)/README.md \
	    $(SQL_FILES:sql/%=$(DESTDIR)$(DATADIR)/%)
	-rmdir $(DESTDIR)$(LIBDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR) 2>/dev/null

dist: $(DIST_DIR)/$(DIST_NAME).tar.gz

$(DIST_DIR)/$(DIST_NAME).tar.gz: $(DIST_FILES)
	rm -rf $(BUILD)/dist && mkdir -p $(BUILD)/dist/$(DIST_NAME)/sql $(DIST_DIR)
	cp $(filter-out $(BUILD)/nxm.so $(SQL_FILES),$(DIST_FILES)) $(BUILD)/dist/$(DIST_NAME)/
	cp $(SQL_FILES) $(BUILD)/dist/$(DIST_NAME)/sql/
	strip --strip-debug -o $(BUILD)/dist/$(DIST_NAME)/nxm.so $(BUILD)/nxm.so
	cd $(BUILD)/dist/$(DIST_NAME) && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort \
	    | xargs sha256sum > SHA256SUMS
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u+rwX,go=rX \
	    -C $(BUILD)/dist -cf - $(DIST_NAME) | gzip -n -9 > $@
	cd $(DIST_DIR) && sha256sum $(DIST_NAME).tar.gz > $(DIST_NAME).tar.gz.sha256

# The static program; _pretend_X.Y.Z variants report SQLite X.Y.Z to exercise the minimum-version check.
$(BUILD)/static_roundtrip: tests/static/static_roundtrip.c $(SOURCES) $(HEADERS)
	$(CC) $(ALL_CFLAGS) -DSQLITE_CORE -o $@ $< $(SOURCES) -lsqlite3 $(LDLIBS)

$(BUILD)/static_roundtrip_pretend_%: tests/static/static_roundtrip.c $(SOURCES) $(HEADERS)
	$(CC) $(ALL_CFLAGS) -DSQLITE_CORE -DNXM_PRETEND_SQLITE='"$*"' -o $@ $< $(SOURCES) -lsqlite3 $(LDLIBS)

$(BUILD)/pretend_sqlite_%.so: tests/static/pretend_sqlite.c
	$(CC) -shared $(ALL_CFLAGS) -DNXM_PRETEND_SQLITE='"$*"' -o $@ $<

static-test: all
	$(PYTHON) -m pytest -q tests/static

# Install scripts are skipped (no prebuilt binary fetched from GitHub) and the addon is compiled here,
# against the headers of the Node that runs it (no headers fetched from nodejs.org).
$(NODE_DEPS): tests/clients/node/package.json tests/clients/node/package-lock.json
	cd tests/clients/node && npm ci --ignore-scripts --no-audit --no-fund
	cd tests/clients/node/node_modules/better-sqlite3 && \
	    npm_config_nodedir="$$(dirname "$$(dirname "$$(command -v node)")")" npm run build-release
	touch $@

clients-deps: $(NODE_DEPS)

clients-test: all clients-deps
	NXM_REQUIRE_CLIENTS=1 $(PYTHON) -m pytest -q tests/test_clients.py
# ---- end issue 7 ----
