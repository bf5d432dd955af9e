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
	bash scripts/demo.sh

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
# install: $(DESTDIR)$(LIBDIR)/nxm.so (load it as $(LIBDIR)/nxm), the schema in $(DATADIR), the README
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
DIST_FILES := $(BUILD)/nxm.so sql/schema.sql README.md $(wildcard LICENSE)
NODE_DEPS := tests/clients/node/node_modules/better-sqlite3/package.json
.PHONY: install uninstall dist static-test clients-deps clients-test

install: $(BUILD)/nxm.so sql/schema.sql README.md
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/nxm.so $(DESTDIR)$(LIBDIR)/nxm.so
	install -m 0644 sql/schema.sql $(DESTDIR)$(DATADIR)/schema.sql
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/nxm.so $(DESTDIR)$(DATADIR)/schema.sql $(DESTDIR)$(DOCDIR)/README.md
	-rmdir $(DESTDIR)$(LIBDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR) 2>/dev/null

dist: $(DIST_DIR)/$(DIST_NAME).tar.gz

$(DIST_DIR)/$(DIST_NAME).tar.gz: $(DIST_FILES)
	rm -rf $(BUILD)/dist && mkdir -p $(BUILD)/dist/$(DIST_NAME)/sql $(DIST_DIR)
	cp $(filter-out $(BUILD)/nxm.so sql/schema.sql,$(DIST_FILES)) $(BUILD)/dist/$(DIST_NAME)/
	cp sql/schema.sql $(BUILD)/dist/$(DIST_NAME)/sql/
	strip --strip-debug -o $(BUILD)/dist/$(DIST_NAME)/nxm.so $(BUILD)/nxm.so
	cd $(BUILD)/dist/$(DIST_NAME) && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort \
	    | xargs sha256sum > SHA256SUMS
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C $(BUILD)/dist -cf - $(DIST_NAME) \
	    | gzip -n -9 > $@
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

$(NODE_DEPS): tests/clients/node/package.json tests/clients/node/package-lock.json
	cd tests/clients/node && npm_config_build_from_source=true \
	    npm_config_nodedir="$$(dirname "$$(dirname "$$(command -v node)")")" \
	    npm ci --no-audit --no-fund
	touch $@

clients-deps: $(NODE_DEPS)

clients-test: all clients-deps
	NXM_REQUIRE_CLIENTS=1 $(PYTHON) -m pytest -q tests/test_clients.py
# ---- end issue 7 ----
