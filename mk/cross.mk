# SPDX-License-Identifier: MIT
# mk/cross.mk - portability checks (included at the end of the top-level Makefile).
#
#   make check-bigendian   s390x (64-bit big-endian) and powerpc (32-bit big-endian): libwire, the
#                          tests, wire-server and wire-client cross-compiled, the whole C suite run
#                          under qemu-user, then the mixed interop run (interop/run_all.sh --with-bigendian)
#   make check-s390x       just the s390x part (real cmocka, dynamic, qemu-s390x -L /)
#   make check-ppc         just the powerpc part (cmocka-lite, static, qemu-ppc)
#   make check-bigendian-interop   just the mixed run: big-endian C peers against the native ones
#   make check-m32         i686 (32-bit long and pointers): the whole C suite, natively where the
#                          kernel runs i686 programs, under qemu-i386 where it cannot (M32_RUNNER=auto,
#                          native or qemu forces the choice; see scripts/cross/m32-runner.sh)
#   make check-compilers   gcc and clang: the library with -Wconversion -Wsign-conversion -Wcast-align
#                          on top of the usual -std=c99 -Wall -Wextra -Wpedantic -Werror, the rest with
#                          the usual flags; no warning allowed
#   make check-cross       all of the above
#
# Each cross build reuses the rules above with CC, AR and BUILD set (build/s390x, build/ppc,
# build/i686); the packages come from scripts/cross/need-cross.sh, which installs them when run as
# root. Each check first runs build/<target>/cross/selfcheck, which must find the expected byte order
# and pointer width at run time and pass wire_selfcheck().

.PHONY: check-bigendian check-s390x check-ppc check-bigendian-interop check-m32 check-compilers check-cross \
        cross-build-s390x cross-build-ppc cross-build-i686 cross-build-goals cross-strict-lib

CROSS_NEED := scripts/cross/need-cross.sh
CROSS_SUITE := scripts/cross/run-suite.sh
CROSS_MAKE = $(MAKE) --no-print-directory

# The programs every cross build makes: library (static and shared), server, client, wire-conform, wirecat, the tests, the
# self-check program, the probe (does this kernel run the target's programs?), and the library once
# more with the stricter warnings (compiled only).
CROSS_GOALS = lib $(SERVER) $(CLIENT) $(CONFORM) $(WIRECAT) $(TEST_BIN) $(PEER_TEST_BIN) $(BUILD)/cross/selfcheck $(BUILD)/cross/probe \
              cross-strict-lib

# cmocka-lite: for targets with no cmocka package (CROSS_CMOCKA=lite in their sub-make).
CMOCKA_LITE_DIR := scripts/cross/cmocka-lite
ifeq ($(CROSS_CMOCKA),lite)
CMOCKA_LITE_OBJ := $(BUILD)/cross/cmocka_lite.o
$(CMOCKA_LITE_OBJ): $(CMOCKA_LITE_DIR)/cmocka_lite.c $(CMOCKA_LITE_DIR)/cmocka.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -isystem $(CMOCKA_LITE_DIR) -c $< -o $@
$(TEST_BIN) $(PEER_TEST_BIN): $(CMOCKA_LITE_OBJ) $(CMOCKA_LITE_DIR)/cmocka.h
endif

$(BUILD)/cross/selfcheck: scripts/cross/selfcheck.c include/wire.h $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< $(LIB_A) $(LDFLAGS) -o $@

# The library and every inline function of wire.h with the stricter warnings, objects thrown away.
# gcc's plain -Wcast-align is silent where unaligned access is allowed (x86, s390x): =strict is not.
CROSS_CAST_ALIGN = $(if $(findstring clang,$(CC)),-Wcast-align,-Wcast-align=strict)
CROSS_STRICT = -Wconversion -Wsign-conversion $(CROSS_CAST_ALIGN)
CROSS_STRICT_OBJ = $(LIB_SRC:src/%.c=$(BUILD)/strict/%.o) $(BUILD)/strict/inline_all.o
cross-strict-lib: $(CROSS_STRICT_OBJ)
$(BUILD)/strict/%.o: src/%.c include/wire.h src/internal.h
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) $(CROSS_STRICT) -c $< -o $@
$(BUILD)/strict/inline_all.o: scripts/cross/inline_all.c include/wire.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CROSS_STRICT) -c $< -o $@

# $(call cross_static,BUILD,MAKE): the rest of a static cross build. glibc's linker notes that a static
# getaddrinfo() would need glibc's NSS libraries at run time are left out of the output: the programs
# and tests only resolve numeric addresses, which need none.
define cross_static
mkdir -p $(1)/cross; \
$(2) LDFLAGS="$(LDFLAGS) -static" cross-build-goals >$(1)/cross/build.log 2>&1 || { cat $(1)/cross/build.log; exit 1; }; \
grep -v -e 'statically linked applications requires at runtime' -e ': in function .wire_' $(1)/cross/build.log || true
endef

# ---- s390x: 64-bit big-endian, real cmocka (libcmocka-dev:s390x), run with qemu-s390x -L / ----
S390X_MAKE = $(CROSS_MAKE) CC=s390x-linux-gnu-gcc AR=s390x-linux-gnu-ar BUILD=build/s390x
cross-build-s390x:
	@$(CROSS_NEED) s390x
	@$(S390X_MAKE) cross-build-goals

check-s390x: cross-build-s390x
	@$(CROSS_SUITE) build/s390x big 64 qemu-s390x -L /

# ---- powerpc: 32-bit big-endian, static (Debian 12 has no powerpc libraries to load), cmocka-lite ----
# The shared library is linked without -static, then everything else with it.
PPC_MAKE = $(CROSS_MAKE) CC=powerpc-linux-gnu-gcc AR=powerpc-linux-gnu-ar BUILD=build/ppc CROSS_CMOCKA=lite \
           CFLAGS="$(CFLAGS) -isystem $(CMOCKA_LITE_DIR)" CMOCKA_LIBS="build/ppc/cross/cmocka_lite.o -latomic -static"
cross-build-ppc:
	@$(CROSS_NEED) ppc
	@$(PPC_MAKE) lib
	@$(call cross_static,build/ppc,$(PPC_MAKE))

check-ppc: cross-build-ppc
	@$(CROSS_SUITE) build/ppc big 32 qemu-ppc

# ---- i686: 32-bit long and pointers; static with cmocka-lite, so it needs no i386 foreign architecture
# ---- (see scripts/cross/need-cross.sh). It runs natively where the kernel has IA32 support and under
# ---- qemu-i386 where it has not: scripts/cross/m32-runner.sh runs a tiny probe first and says which.
I686_MAKE = $(CROSS_MAKE) CC=i686-linux-gnu-gcc AR=i686-linux-gnu-ar BUILD=build/i686 CROSS_CMOCKA=lite \
            CFLAGS="$(CFLAGS) -isystem $(CMOCKA_LITE_DIR)" CMOCKA_LIBS="build/i686/cross/cmocka_lite.o -static"
cross-build-i686:
	@$(CROSS_NEED) i686
	@$(I686_MAKE) lib
	@$(call cross_static,build/i686,$(I686_MAKE))

$(BUILD)/cross/probe: scripts/cross/probe.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< $(LDFLAGS) -o $@

M32_RUNNER ?= auto
check-m32: cross-build-i686
	@runner=$$(M32_RUNNER=$(M32_RUNNER) scripts/cross/m32-runner.sh build/i686/cross/probe) && \
	    $(CROSS_SUITE) build/i686 little 32 $$runner

cross-build-goals: $(CROSS_GOALS)

# ---- the mixed run: big-endian C servers and clients (under qemu) against the native peers ----
check-bigendian-interop:
	@CC=$(CC) interop/run_all.sh --with-bigendian

check-bigendian: check-s390x check-ppc
	@$(MAKE) --no-print-directory check-bigendian-interop

# ---- gcc and clang ----
check-compilers:
	@$(CROSS_NEED) clang
	@for cc in gcc clang; do \
	    echo "== $$cc: the library and wire.h's inline functions with -Wconversion -Wsign-conversion" \
	         "-Wcast-align, then library, C peer, examples and tests with the usual flags"; \
	    $(CROSS_MAKE) CC=$$cc BUILD=build/$$cc cross-strict-lib all $(TEST_SRC:tests/%.c=build/$$cc/tests/%) \
	        $(PEER_TEST_SRC:interop/c/tests/%.c=build/$$cc/interop-tests/%) build/$$cc/cross/selfcheck || exit 1; \
	    build/$$cc/cross/selfcheck || exit 1; \
	done
	@echo "check-compilers: gcc and clang build everything without a warning"

check-cross: check-compilers check-m32 check-bigendian
