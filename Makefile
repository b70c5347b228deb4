# hookbridge - plain Makefile (Redis and hiredis style).
#
#   make            build bin/hookbridge-ingress and bin/hookbridge-worker
#   make run        install missing packages, build, start Redis + ingress + one worker
#   make test       install missing packages, build with ASan/UBSan, run unit and
#                   integration tests; ends with "N passed, N failed"
#   make bench      scripts/bench (speed figures)

CC ?= cc
PKGS := libevent hiredis libcurl libcjson sqlite3 libsodium libpcre2-8
BUILD ?= build
BINDIR ?= bin
OPT ?= -O2
SANITIZER ?=

WARN := -Wall -Wextra -Wstrict-prototypes -Wwrite-strings -Werror
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) -MMD -MP -Icommon -I$(BUILD)/gen \
             $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(LDFLAGS)
ifneq ($(SANITIZER),)
ALL_CFLAGS += -fsanitize=$(SANITIZER) -fno-sanitize-recover=all -fno-omit-frame-pointer
ALL_LDFLAGS += -fsanitize=$(SANITIZER)
endif
LIBS = $(PKG_LIBS) -lm

COMMON_SRC := $(wildcard common/*.c)
INGRESS_SRC := $(wildcard ingress/*.c)
WORKER_SRC := $(wildcard worker/*.c)
UNIT_SRC := $(wildcard test/unit/test_*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/schemas.o
INGRESS_OBJ := $(INGRESS_SRC:%.c=$(BUILD)/%.o)
WORKER_OBJ := $(WORKER_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/%)
SCHEMAS := $(wildcard schemas/*.sql schemas/*.json)

.PHONY: all deps run test unit bench clean format
all: $(BINDIR)/hookbridge-ingress $(BINDIR)/hookbridge-worker

deps:
	@scripts/install-deps

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run

test: deps
	@$(MAKE) --no-print-directory SANITIZER=address,undefined OPT=-O1 BUILD=build/asan \
		BINDIR=build/asan/bin all unit
	@HB_BIN=build/asan/bin HB_UNIT=build/asan/test test/run

unit: $(UNIT_BIN)

bench:
	@scripts/install-deps --bench
	@$(MAKE) --no-print-directory all
	@scripts/bench

# The schemas in schemas/ are compiled in as C strings, so the binaries need no files
# beside them at run time and there is one copy of each schema.
$(BUILD)/gen/schemas.c: $(SCHEMAS) scripts/embed-schemas
	@mkdir -p $(dir $@)
	scripts/embed-schemas $(SCHEMAS) > $@

$(BUILD)/gen/schemas.o: $(BUILD)/gen/schemas.c
	$(CC) $(ALL_CFLAGS) -c $< -o $@

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
		$(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

$(BUILD)/test/%: $(BUILD)/test/unit/%.o $(BUILD)/libhbcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

format:
	clang-format -i $(COMMON_SRC) $(INGRESS_SRC) $(WORKER_SRC) $(UNIT_SRC) common/*.h \
		$(wildcard ingress/*.h worker/*.h)

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
