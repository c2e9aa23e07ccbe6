# SPDX-License-Identifier: MIT
# mk/fuzz.mk - fuzzing (included at the end of the top-level Makefile).
#
#   make fuzz-replay       every seed input and every committed regression input through every
#                          target, as an ordinary test: no fuzzing engine, built with $(CC) (gcc or
#                          clang) and -Werror, each input at the very end of a mapping followed by an
#                          inaccessible page (a read past it faults without a sanitizer); seconds.
#                          Under ASan and UBSan: make CFLAGS="$(SANITIZE)" LDFLAGS="$(SANITIZE)" ...
#   make fuzz              every libFuzzer target (clang, -fsanitize=fuzzer,address,undefined) for
#                          FUZZ_SECONDS seconds each (default 60), one after the other:
#                            make fuzz FUZZ_SECONDS=900
#                          FUZZ_FLAGS adds libFuzzer options (FUZZ_FLAGS=-jobs=2, -dict=...)
#   make fuzz-run-TARGET   one of them (codec parser control service conn), as long
#   make fuzz-build        the libFuzzer binaries only (FUZZ_CC=clang-14 or another clang)
#   make fuzz-seeds        the seed corpora, written from proto/ by fuzz/gen_seeds.c
#
# Targets (fuzz/fuzz_TARGET.c; what each checks is said at its top): codec (decoder, writer and
# its sizing mode), parser (wire_parser_* in input-chosen chunks against wire_frame_parse),
# control (HELLO and ERROR codec), service (interop/c/service.c behind a server wire_conn),
# conn (wire_conn with input-chosen reads, writes, EINTR, EAGAIN, short writes, resets, time).
#
# Where things go, all under $(BUILD)/fuzz (never the tree):
#   seeds/TARGET     the seed corpora (regenerated when proto/ changes)
#   corpus/TARGET    the working corpus libFuzzer grows, kept from run to run
#   crashes/TARGET/  what a run found (crash-*, leak-*, timeout-*, oom-*)
# An input that found a bug goes into fuzz/regress/TARGET/ (named after what it found), with the fix:
# fuzz-replay (which `make test` runs) then replays it on every change.
#
# Memory: every run is capped (-rss_limit_mb, -malloc_limit_mb) and the targets bound what they
# allocate themselves (their buffer and payload limits).

FUZZ_TARGETS := codec parser control service conn
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?=
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := $(STD) $(WARN) -Iinclude -O1 -g $(FUZZ_SAN)
# The fuzz sources use syscall() and MAP_ANONYMOUS, which POSIX 2008 lacks; the library does not.
FUZZ_SRC_CFLAGS := -D_DEFAULT_SOURCE -Ifuzz -Iinterop/c
FUZZ_RSS_MB ?= 2048
FUZZ_MALLOC_MB ?= 512
FUZZ_LEN_codec := 16384
FUZZ_LEN_parser := 16384
FUZZ_LEN_control := 4096
FUZZ_LEN_service := 65536
FUZZ_LEN_conn := 16384

# What each target is made of, besides fuzz/fuzz_TARGET.c and libwire.
FUZZ_EXTRA_codec :=
FUZZ_EXTRA_parser :=
FUZZ_EXTRA_control :=
FUZZ_EXTRA_service := fuzz/fake_io.c
FUZZ_EXTRA_conn := fuzz/fake_io.c
FUZZ_PEER_service := vectors service
FUZZ_HDRS := fuzz/fuzz.h fuzz/fake_io.h fuzz/formats.h

.PHONY: fuzz fuzz-build fuzz-replay fuzz-seeds $(FUZZ_TARGETS:%=fuzz-run-%)

# ---- the seed corpora ----
FUZZ_GEN := $(FUZZ_DIR)/gen_seeds
FUZZ_SEEDS := $(FUZZ_DIR)/seeds/.stamp

$(FUZZ_GEN): fuzz/gen_seeds.c fuzz/formats.h $(BUILD)/interop/vectors.o $(BUILD)/interop/sessions.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(FUZZ_SRC_CFLAGS) fuzz/gen_seeds.c $(BUILD)/interop/vectors.o $(BUILD)/interop/sessions.o \
	    $(LIB_A) $(LDFLAGS) $(LIB_LIBS) -o $@

$(FUZZ_SEEDS): $(FUZZ_GEN) proto/vectors.txt proto/control.txt proto/sessions.txt
	rm -rf $(FUZZ_DIR)/seeds
	WIRE_PROTO_DIR=proto $(FUZZ_GEN) $(FUZZ_DIR)/seeds
	@touch $@

fuzz-seeds: $(FUZZ_SEEDS)

# ---- replay: the targets without an engine ----
FUZZ_REPLAY_BIN := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/replay/%)

# The library as an archive, not objects: a target's own wire_now_ms() (fake_io.c) then replaces
# clock.o, which the linker leaves out. One rule per target (eval), so that each lists its own parts.
define FUZZ_REPLAY_RULE
$(FUZZ_DIR)/replay/$(1): fuzz/fuzz_$(1).c fuzz/replay.c $(FUZZ_HDRS) $(FUZZ_EXTRA_$(1)) \
                         $(FUZZ_PEER_$(1):%=$(BUILD)/interop/%.o) $(LIB_A)
	@mkdir -p $$(@D)
	$(CC) $(ALL_CFLAGS) $(FUZZ_SRC_CFLAGS) fuzz/replay.c fuzz/fuzz_$(1).c $(FUZZ_EXTRA_$(1)) \
	    $(FUZZ_PEER_$(1):%=$(BUILD)/interop/%.o) $(LIB_A) $(LDFLAGS) $(LIB_LIBS) -o $$@
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_REPLAY_RULE,$(t))))

fuzz-replay: $(FUZZ_REPLAY_BIN) $(FUZZ_SEEDS)
	@fail=0; for t in $(FUZZ_TARGETS); do \
	    dirs="$(FUZZ_DIR)/seeds/$$t"; [ -d fuzz/regress/$$t ] && dirs="$$dirs fuzz/regress/$$t"; \
	    echo "== fuzz-replay $$t: $$dirs"; \
	    WIRE_PROTO_DIR=proto $(FUZZ_DIR)/replay/$$t $$dirs || { echo "FAIL: fuzz-replay $$t"; fail=1; }; \
	done; exit $$fail

# ---- libFuzzer ----
FUZZ_OBJ := $(LIB_SRC:src/%.c=$(FUZZ_DIR)/obj/lib/%.o)
FUZZ_LIB := $(FUZZ_DIR)/libwire-fuzz.a
FUZZ_BIN := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/bin/%)

$(FUZZ_DIR)/obj/lib/%.o: src/%.c src/internal.h include/wire.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/obj/interop/%.o: interop/c/%.c include/wire.h interop/c/vectors.h interop/c/service.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Iinterop/c -c $< -o $@

$(FUZZ_LIB): $(FUZZ_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

define FUZZ_BIN_RULE
$(FUZZ_DIR)/bin/$(1): fuzz/fuzz_$(1).c $(FUZZ_HDRS) $(FUZZ_EXTRA_$(1)) $(FUZZ_PEER_$(1):%=$(FUZZ_DIR)/obj/interop/%.o) \
                      $(FUZZ_LIB)
	@mkdir -p $$(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SRC_CFLAGS) -fsanitize=fuzzer fuzz/fuzz_$(1).c $(FUZZ_EXTRA_$(1)) \
	    $(FUZZ_PEER_$(1):%=$(FUZZ_DIR)/obj/interop/%.o) $(FUZZ_LIB) $(LDFLAGS) $(LIB_LIBS) -o $$@
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_BIN_RULE,$(t))))

fuzz-build: $(FUZZ_BIN)

# The working corpus first (libFuzzer writes new inputs there), then the seeds and the regression
# inputs, read only.
$(FUZZ_TARGETS:%=fuzz-run-%): fuzz-run-%: $(FUZZ_DIR)/bin/% $(FUZZ_SEEDS)
	@mkdir -p $(FUZZ_DIR)/corpus/$* $(FUZZ_DIR)/crashes/$*
	WIRE_PROTO_DIR=proto $(FUZZ_DIR)/bin/$* $(FUZZ_DIR)/corpus/$* $(FUZZ_DIR)/seeds/$* $(wildcard fuzz/regress/$*) \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_LEN_$*) -rss_limit_mb=$(FUZZ_RSS_MB) \
	    -malloc_limit_mb=$(FUZZ_MALLOC_MB) -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/crashes/$*/ $(FUZZ_FLAGS)

fuzz:
	@fail=0; for t in $(FUZZ_TARGETS); do \
	    $(MAKE) --no-print-directory fuzz-run-$$t || fail=1; done; exit $$fail
