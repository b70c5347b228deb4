# hookbridge - plain Makefile (Redis and hiredis style).
#
#   make            build bin/hookbridge-ingress and bin/hookbridge-worker
#   make run        install missing packages, build, start Redis + ingress + one worker
#   make test       install missing packages, build with ASan/UBSan, run unit and
#                   integration tests; ends with "N passed, N failed"
#   make bench      scripts/bench (speed figures)
#   make check-style  scripts/check-style: no banned calls (STYLE.md) and clang-format clean;
#                   make test runs it first
#   make fuzz       build the libFuzzer harnesses of test/fuzz/ with clang and run each for
#                   FUZZ_SECONDS (default 60); make test runs them for a few seconds each

CC ?= cc
PKGS := libevent hiredis libcurl libcjson sqlite3 libsodium libpcre2-8 gmime-3.0 \
        libevent_openssl openssl libidn2 libpq
BUILD ?= build
BINDIR ?= bin
OPT ?= -O2
SANITIZER ?=

WARN := -Wall -Wextra -Wstrict-prototypes -Wwrite-strings -Werror
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Each directory sees its own headers and common's, so common/ cannot include an ingress or
# worker header; tests see all three. The directory is the first part of the source's path.
INC_common := -Icommon
INC_ingress := -Icommon -Iingress
INC_worker := -Icommon -Iworker
INC_test := -Icommon -Iingress -Iworker
INC = $(or $(INC_$(firstword $(subst /, ,$<))),-Icommon)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) -MMD -MP $(INC) -I$(BUILD)/gen \
             $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(LDFLAGS)
ifneq ($(SANITIZER),)
ALL_CFLAGS += -fsanitize=$(SANITIZER) -fno-sanitize-recover=all -fno-omit-frame-pointer
ALL_LDFLAGS += -fsanitize=$(SANITIZER)
endif
LIBS = $(PKG_LIBS) -lm -pthread

COMMON_SRC := $(wildcard common/*.c)
INGRESS_SRC := $(wildcard ingress/*.c)
WORKER_SRC := $(wildcard worker/*.c)
UNIT_SRC := $(wildcard test/unit/test_*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/schemas.o \
              $(BUILD)/gen/migrations_sqlite.o $(BUILD)/gen/migrations_postgres.o
INGRESS_OBJ := $(INGRESS_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/ui.o
WORKER_OBJ := $(WORKER_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/%)
SCHEMAS := $(wildcard schemas/*.sql schemas/*.json)
UI_FILES := $(shell find ui -type f ! -name '.*' 2>/dev/null)

.PHONY: all deps run test unit tools bench clean format fuzz fuzz-build fuzz-bins check-style
all: $(BINDIR)/hookbridge-ingress $(BINDIR)/hookbridge-worker

deps:
	@scripts/install-deps

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run

test: deps check-style
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory SANITIZER=address,undefined OPT=-O1 BUILD=build/asan \
		BINDIR=build/asan/bin all unit tools
	@$(MAKE) --no-print-directory fuzz-build
	@HB_BIN=build/asan/bin HB_UNIT=build/asan/test HB_FUZZ=build/fuzz/bin test/run

unit: $(UNIT_BIN)

check-style:
	@scripts/check-style

# Helpers the integration tests run (test/tools/X.c -> $(BUILD)/test/X).
TOOL_SRC := $(wildcard test/tools/*.c)
TOOL_BIN := $(TOOL_SRC:test/tools/%.c=$(BUILD)/test/%)
tools: $(TOOL_BIN)

$(BUILD)/test/%: $(BUILD)/test/tools/%.o $(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# libFuzzer harnesses: the common library is built with clang and coverage hooks
# (fuzzer-no-link), each harness test/fuzz/fuzz_X.c links with libFuzzer's main.
FUZZ_SRC := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_SECONDS ?= 60

fuzz-build:
	@$(MAKE) --no-print-directory CC=clang SANITIZER=fuzzer-no-link,address,undefined OPT=-O1 \
		BUILD=build/fuzz fuzz-bins

fuzz-bins: $(FUZZ_SRC:test/fuzz/%.c=$(BUILD)/bin/%)

$(BUILD)/bin/fuzz_httpparse: $(BUILD)/test/fuzz/fuzz_httpparse.o $(BUILD)/ingress/httpparse.o \
		$(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)

$(BUILD)/bin/fuzz_httpd: $(BUILD)/test/fuzz/fuzz_httpd.o $(BUILD)/ingress/httpd.o \
		$(BUILD)/ingress/httpparse.o $(BUILD)/ingress/listener.o $(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)

$(BUILD)/bin/fuzz_smtp: $(BUILD)/test/fuzz/fuzz_smtp.o $(BUILD)/ingress/smtpparse.o \
		$(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)

$(BUILD)/bin/fuzz_%: $(BUILD)/test/fuzz/fuzz_%.o $(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)

fuzz: deps fuzz-build
	@for f in build/fuzz/bin/fuzz_*; do \
		name=$${f##*/fuzz_}; mkdir -p build/fuzz/corpus/$$name; \
		echo "== $$name ($(FUZZ_SECONDS) s)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 build/fuzz/corpus/$$name \
			test/fuzz/$$name || exit 1; \
	done

bench:
	@scripts/install-deps --bench
	@$(MAKE) --no-print-directory all tools
	@scripts/bench

# The schemas in schemas/ are compiled in as C strings, so the binaries need no files
# beside them at run time and there is one copy of each schema.
$(BUILD)/gen/schemas.c: $(SCHEMAS) scripts/embed-schemas
	@mkdir -p $(dir $@)
	scripts/embed-schemas $(SCHEMAS) > $@

$(BUILD)/gen/schemas.o: $(BUILD)/gen/schemas.c
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# Each store's migrations (schemas/migrations/STORE/NNN_name.sql), in file name order, as
# the arrays of common/migrate.h.
MIG_SQLITE := $(sort $(wildcard schemas/migrations/sqlite/*.sql))
MIG_POSTGRES := $(sort $(wildcard schemas/migrations/postgres/*.sql))

$(BUILD)/gen/migrations_sqlite.c: $(MIG_SQLITE) scripts/embed-migrations
	@mkdir -p $(dir $@)
	scripts/embed-migrations sqlite $(MIG_SQLITE) > $@

$(BUILD)/gen/migrations_postgres.c: $(MIG_POSTGRES) scripts/embed-migrations
	@mkdir -p $(dir $@)
	scripts/embed-migrations postgres $(MIG_POSTGRES) > $@

$(BUILD)/gen/migrations_%.o: $(BUILD)/gen/migrations_%.c common/migrate.h
	$(CC) $(ALL_CFLAGS) -Icommon -c $< -o $@

# The console (ui/) likewise, each file also gzip-compressed, for ingress/console.c.
$(BUILD)/gen/ui.c: $(UI_FILES) scripts/embed-ui
	@mkdir -p $(dir $@)
	scripts/embed-ui ui > $@

$(BUILD)/gen/ui.o: $(BUILD)/gen/ui.c ingress/console.h
	$(CC) $(ALL_CFLAGS) $(INC_ingress) -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libhbcommon.a: $(COMMON_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BINDIR)/hookbridge-ingress: $(INGRESS_OBJ) $(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BINDIR)/hookbridge-worker: $(WORKER_OBJ) $(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# test_http tests ingress/http.c's pure helpers, so it links that object too.
$(BUILD)/test/test_http: $(BUILD)/test/unit/test_http.o $(BUILD)/ingress/http.o \
		$(BUILD)/ingress/httpd.o $(BUILD)/ingress/httpparse.o $(BUILD)/ingress/listener.o \
		$(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# test_httpparse tests ingress/httpparse.c, the pure HTTP/1.1 parser.
$(BUILD)/test/test_httpparse: $(BUILD)/test/unit/test_httpparse.o $(BUILD)/ingress/httpparse.o \
		$(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# test_smtpparse tests ingress/smtpparse.c, the pure SMTP command parser.
$(BUILD)/test/test_smtpparse: $(BUILD)/test/unit/test_smtpparse.o $(BUILD)/ingress/smtpparse.o \
		$(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# test_smtpd runs ingress/smtpd.c's listener on loopback.
$(BUILD)/test/test_smtpd: $(BUILD)/test/unit/test_smtpd.o $(BUILD)/ingress/smtpd.o \
		$(BUILD)/ingress/smtpparse.o $(BUILD)/ingress/listener.o $(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# test_httpd runs ingress/httpd.c's server on loopback.
$(BUILD)/test/test_httpd: $(BUILD)/test/unit/test_httpd.o $(BUILD)/ingress/httpd.o \
		$(BUILD)/ingress/httpparse.o $(BUILD)/ingress/listener.o $(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# Unit tests of worker modules link those objects too (the rule below puts them before the
# library).
$(BUILD)/test/test_render: $(BUILD)/worker/render.o
$(BUILD)/test/test_deliver: $(BUILD)/worker/deliver.o
$(BUILD)/test/test_mail: $(BUILD)/worker/mail.o $(BUILD)/worker/render.o
$(BUILD)/test/test_notice: $(BUILD)/worker/notice.o $(BUILD)/worker/deliver.o

$(BUILD)/test/%: $(BUILD)/test/unit/%.o $(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(LIBS) -lcmocka

format:
	clang-format -i $(COMMON_SRC) $(INGRESS_SRC) $(WORKER_SRC) $(UNIT_SRC) common/*.h \
		$(wildcard ingress/*.h worker/*.h)

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
