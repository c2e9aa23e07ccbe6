# SPDX-License-Identifier: MIT
# wire - build, test and install.
#   make                      libwire.a, libwire.so, wire.pc, wire-server, wire-client, the examples
#   make test                 every test: C (cmocka), Python, Perl, OCaml, the interop matrix, the
#                             fuzzers' inputs replayed, the attack suite, a differential run and the
#                             instruction-count guard (callgrind), the course's lab (make test-course)
#   make bench                the benchmarks (mk/bench.mk; never part of make test)
#   make CC=clang test        the same with clang (objects go to build/clang)
#   make install PREFIX=/usr/local DESTDIR=   (also BINDIR, LIBDIR, INCLUDEDIR, DATADIR, MANDIR); make uninstall
# Missing Debian packages (scripts/debian-packages) are installed when run as root; otherwise the
# apt-get line is printed.
#
# Layout: the library (include/, src/) needs libc and pthread only; the C peer (interop/c/: the
# vectors module, the interop service, wire-server, wire-client and their tests) is built on it, as
# the examples (examples/) are; tests/ tests the library alone.

CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
# Where make install puts each part (DESTDIR is prepended to all of them, for staging).
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
BUILD ?= build/$(notdir $(CC))

SOVERSION := 0
LIBVERSION := 0.1.0

WARN := -Wall -Wextra -Wpedantic -Werror -Wstrict-prototypes -Wwrite-strings -Wshadow
STD := -std=c99 -D_POSIX_C_SOURCE=200809L
CFLAGS ?= -O2 -g
ALL_CFLAGS := $(STD) $(WARN) -Iinclude $(CFLAGS)
DEPFLAGS = -MMD -MP
# Only symbols marked WIRE_EXPORT leave the shared library.
LIB_CFLAGS := $(ALL_CFLAGS) -fPIC -fvisibility=hidden
LIB_LIBS := -lpthread

# ---- libwire ----
LIB_SRC := $(wildcard src/*.c)
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/lib/%.o)
LIB_A := $(BUILD)/libwire.a
LIB_SO := $(BUILD)/libwire.so.$(LIBVERSION)
PC := $(BUILD)/wire.pc

# ---- the C peer (interop/c/) ----
PEER_OBJ := $(BUILD)/interop/vectors.o $(BUILD)/interop/service.o $(BUILD)/interop/sessions.o
SERVER := $(BUILD)/wire-server
CLIENT := $(BUILD)/wire-client
CONFORM := $(BUILD)/wire-conform
WIRECAT := $(BUILD)/wirecat

# ---- examples (examples/): each program is one .c file, or a directory of them ----
EXAMPLE_BIN := $(BUILD)/examples/hello $(BUILD)/examples/sensor-server $(BUILD)/examples/chat-server \
               $(BUILD)/examples/chat-client

# ---- tests: the library's (tests/) and the C peer's (interop/c/tests/) ----
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
PEER_TEST_SRC := $(wildcard interop/c/tests/test_*.c)
PEER_TEST_BIN := $(PEER_TEST_SRC:interop/c/tests/%.c=$(BUILD)/interop-tests/%)

.PHONY: check-spdx all lib peer examples test test-c test-python test-perl test-ocaml test-interop test-example \
        test-examples test-lib test-tsan check-sanitize check-valgrind deps-test install uninstall clean
.DEFAULT_GOAL := all

all: lib $(SERVER) $(CLIENT) $(CONFORM) $(WIRECAT) examples

lib: $(LIB_A) $(LIB_SO) $(PC)

peer: $(SERVER) $(CLIENT) $(CONFORM) $(WIRECAT)

examples: $(EXAMPLE_BIN)

$(BUILD)/lib/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libwire.so.$(SOVERSION) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)
	ln -sf libwire.so.$(LIBVERSION) $(BUILD)/libwire.so.$(SOVERSION)
	ln -sf libwire.so.$(SOVERSION) $(BUILD)/libwire.so

# The .pc paths: LIBDIR and INCLUDEDIR as ${prefix}/... when under PREFIX (--define-variable works).
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(LIBVERSION)|g' \
    -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|g' \
    -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|g'
$(PC): wire.pc.in Makefile
	@mkdir -p $(@D)
	$(PC_SED) $< > $@

$(BUILD)/interop/%.o: interop/c/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -Iinterop/c -c $< -o $@

# The programs look for proto/ in DATADIR/wire after the source tree (vectors.c): the stamp holds the
# DATADIR compiled in, rewritten only when it changes, so that install PREFIX=... recompiles it.
$(BUILD)/interop/vectors.o: ALL_CFLAGS += -DWIRE_DATADIR='"$(DATADIR)"'
$(BUILD)/interop/vectors.o: $(BUILD)/datadir.stamp
$(BUILD)/datadir.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(DATADIR)' | cmp -s - $@ || echo '$(DATADIR)' > $@
FORCE:

$(SERVER): $(BUILD)/interop/server.o $(PEER_OBJ) $(LIB_A)
	$(CC) $^ $(LDFLAGS) $(LIB_LIBS) -o $@

$(CLIENT): $(BUILD)/interop/client.o $(BUILD)/interop/exchange.o $(BUILD)/interop/vectors.o $(LIB_A)
	$(CC) $^ $(LDFLAGS) $(LIB_LIBS) -o $@

$(CONFORM): $(BUILD)/interop/conform.o $(BUILD)/interop/conform_udp.o $(BUILD)/interop/exchange.o $(PEER_OBJ) $(LIB_A)
	$(CC) $^ $(LDFLAGS) $(LIB_LIBS) -o $@

$(WIRECAT): $(BUILD)/interop/wirecat.o $(BUILD)/interop/wirecat_notation.o $(BUILD)/interop/wirecat_print.o $(LIB_A)
	$(CC) $^ $(LDFLAGS) $(LIB_LIBS) -o $@

$(BUILD)/examples/%.o: examples/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/examples/hello: $(BUILD)/examples/hello.o $(LIB_A)
$(BUILD)/examples/sensor-server: $(BUILD)/examples/sensor_server.o $(LIB_A)
$(BUILD)/examples/chat-server: $(BUILD)/examples/chat_server.o $(LIB_A)
$(BUILD)/examples/chat-client: $(BUILD)/examples/chat_client.o $(LIB_A)
$(EXAMPLE_BIN):
	$(CC) $^ $(LDFLAGS) $(LIB_LIBS) -o $@

# ---- tests ----
# Tests may use what POSIX 2008 lacks (MAP_ANONYMOUS for guard pages): _DEFAULT_SOURCE there only.
CMOCKA_LIBS := -lcmocka
TEST_CFLAGS = $(ALL_CFLAGS) -D_DEFAULT_SOURCE -Itests $(DEPFLAGS) -MF $(@D)/.deps/$(@F).d

# The library's tests link the library and nothing else of ours.
$(BUILD)/tests/%: tests/%.c $(LIB_A)
	@mkdir -p $(@D)/.deps
	$(CC) $(TEST_CFLAGS) $< $(LIB_A) $(LDFLAGS) $(CMOCKA_LIBS) $(LIB_LIBS) -o $@

$(BUILD)/interop-tests/%: interop/c/tests/%.c $(PEER_OBJ) $(LIB_A)
	@mkdir -p $(@D)/.deps
	$(CC) $(TEST_CFLAGS) -Iinterop/c $< $(PEER_OBJ) $(LIB_A) $(LDFLAGS) $(CMOCKA_LIBS) $(LIB_LIBS) -o $@

deps-test:
	@scripts/need-packages.sh $$(scripts/packages.sh test)

test: deps-test
	@$(MAKE) --no-print-directory test-c test-python test-perl test-ocaml test-interop test-example test-examples \
	    test-man test-install test-dissector fuzz-replay check-adversarial check-differential check-instructions \
	    test-course check-spdx

# Every source file says its license (MIT) on one of its first lines: scripts/spdx.py --fix adds it.
check-spdx:
	@echo "== SPDX-License-Identifier in every source file"
	python3 scripts/spdx.py

# Each binary prints cmocka's summary; a failing one fails the run, after all have run.
test-c: $(TEST_BIN) $(PEER_TEST_BIN) $(SERVER) $(CLIENT) $(CONFORM) $(WIRECAT)
	@fail=0; for t in $(TEST_BIN) $(PEER_TEST_BIN); do echo "== $$t"; $$t || fail=1; done; exit $$fail

# The library's own tests (tests/), without the C peer's.
test-lib: $(TEST_BIN)
	@fail=0; for t in $(TEST_BIN); do echo "== $$t"; $$t || fail=1; done; exit $$fail

test-python:
	@echo "== python3 -m unittest (interop/python)"
	python3 -m unittest discover -s interop/python/tests

test-perl:
	@echo "== prove (interop/perl)"
	prove -I interop/perl/lib interop/perl/t

test-ocaml:
	@echo "== dune test (interop/ocaml)"
	cd interop/ocaml && dune build 2>&1 && dune test && sh test/install.sh

# The README's examples, built against an installed copy through pkg-config.
test-example: lib $(SERVER)
	@echo "== README examples"
	scripts/test-example.sh $(BUILD) $(CC)

# The man pages (man/): mandoc's lint and man -l on each, every option of each program's --help in
# its page and every option its page lists in --help.
.PHONY: test-man test-install FORCE
test-man: $(INSTALL_PROGRAMS) $(patsubst man/%.1,$(BUILD)/%,$(wildcard man/*.1))
	@echo "== man pages"
	man/check-pages.sh $(BUILD)

# make install into a temporary DESTDIR and PREFIX: a program built with pkg-config against it, the
# installed wire-server run from elsewhere, make uninstall leaving nothing.
test-install: lib $(INSTALL_PROGRAMS)
	@echo "== make install / uninstall"
	scripts/test-install.sh $(BUILD) $(CC)

# The example applications (examples/), run the way their README section says.
test-examples: examples
	@echo "== examples: sensor service and chat"
	scripts/test-examples.sh $(BUILD)

test-interop: $(SERVER) $(CLIENT)
	@echo "== interop/run_all.sh"
	CC=$(CC) interop/run_all.sh
	@echo "== every client against the iterative C server (one connection at a time)"
	CC=$(CC) interop/run_all.sh --servers c --c-mode iterative --conform-level 0
	@echo "== interop/run_all.sh --udp (SPEC 15: through a relay that drops, duplicates and delays)"
	CC=$(CC) interop/run_all.sh --udp

# The Wireshark dissector (tools/wireshark/) under tshark: a capture of wire-client against wire-server
# taken on lo during the test (as root), the traces of tools/wireshark/mkpcap.py, malformed frames.
.PHONY: test-dissector
test-dissector: $(SERVER) $(CLIENT)
	@echo "== tools/wireshark/test.py (the Lua dissector under tshark)"
	python3 tools/wireshark/test.py $(BUILD)

# The whole C suite (library, service, server, client) under AddressSanitizer and UBSan, in its own
# build directory; any report fails the run.
SANITIZE := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# Then the library's tests again with -DNDEBUG (no check may live only in an assert()), and the code
# that runs threads under ThreadSanitizer: the engine's and test_server's thread-model cases (the
# server built with TSan too), the connection, and wire-conform, whose relay runs a thread per
# direction. Only the thread model: TSan defers a signal handler while its thread blocks in pselect,
# so the select model's signal-driven stop hung under it (1 run in 4) though it never does without.
TSAN := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
export TSAN_OPTIONS ?= halt_on_error=1 second_deadlock_stack=1
check-sanitize:
	@echo "== AddressSanitizer + UBSan: the whole C suite"
	@$(MAKE) --no-print-directory BUILD=build/sanitize-$(notdir $(CC)) CFLAGS="$(SANITIZE)" LDFLAGS="$(SANITIZE)" test-c
	@echo "== AddressSanitizer + UBSan with -DNDEBUG: the library's tests"
	@$(MAKE) --no-print-directory BUILD=build/sanitize-ndebug-$(notdir $(CC)) CFLAGS="$(SANITIZE) -DNDEBUG" \
	    LDFLAGS="$(SANITIZE)" test-lib
	@echo "== ThreadSanitizer: the engine, the thread model, wire-conform"
	@$(MAKE) --no-print-directory BUILD=build/tsan-$(notdir $(CC)) CFLAGS="$(TSAN)" LDFLAGS="$(TSAN)" test-tsan

test-tsan: $(BUILD)/tests/test_engine $(BUILD)/tests/test_conn $(BUILD)/interop-tests/test_server \
           $(BUILD)/interop-tests/test_conform $(SERVER) $(CLIENT) $(CONFORM)
	@fail=0; \
	for t in $(BUILD)/tests/test_conn $(BUILD)/interop-tests/test_conform; do \
	    echo "== $$t"; $$t || fail=1; done; \
	echo "== $(BUILD)/tests/test_engine (thread model, then several event loops)"; \
	WIRE_TEST_FILTER='*_thread' $(BUILD)/tests/test_engine || fail=1; \
	WIRE_TEST_FILTER='*_loops_*' $(BUILD)/tests/test_engine || fail=1; \
	echo "== $(BUILD)/interop-tests/test_server (thread model, then two event loops)"; \
	WIRE_TEST_FILTER='*_thread' $(BUILD)/interop-tests/test_server || fail=1; \
	WIRE_TEST_FILTER='*_epoll2' $(BUILD)/interop-tests/test_server || fail=1; exit $$fail

# Memcheck: the library's tests, then wire-server (thread and epoll models) under valgrind serving
# wire-client's whole exchange and stopped by SIGTERM: 0 errors and 0 bytes lost in each.
# scripts/valgrind.supp: valgrind's own known faults, each explained there.
VALGRIND := valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
            --errors-for-leak-kinds=definite,indirect,possible --track-fds=no \
            --suppressions=$(CURDIR)/scripts/valgrind.supp
check-valgrind: $(TEST_BIN) $(SERVER) $(CLIENT)
	@command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind"; exit 1; }
	@fail=0; for t in $(TEST_BIN); do echo "== valgrind $$t"; \
	    WIRE_UNDER_VALGRIND=1 $(VALGRIND) $$t >/dev/null 2>$(BUILD)/valgrind.log || { cat $(BUILD)/valgrind.log; fail=1; }; \
	done; \
	for m in epoll thread; do echo "== valgrind wire-server --mode $$m, wire-client's exchange"; \
	    scripts/valgrind-server.sh "$(VALGRIND)" $(SERVER) $(CLIENT) $$m || fail=1; done; exit $$fail

# ---- install ----
# The programs installed in BINDIR: another program adds itself here (INSTALL_PROGRAMS += ...).
INSTALL_PROGRAMS := $(SERVER) $(CLIENT) $(CONFORM) $(WIRECAT)
MAN_PAGES = $(wildcard man/*.[1-9])
PROTO_FILES := $(wildcard proto/*)
INSTALL_DIRS = $(BINDIR) $(LIBDIR)/pkgconfig $(INCLUDEDIR) $(DATADIR)/wire \
               $(sort $(foreach m,$(MAN_PAGES),$(MANDIR)/man$(subst .,,$(suffix $(m)))))
# Every directory install creates is listed in this file, so that uninstall removes exactly those
# (once empty), and never a directory that was there before, such as /usr/local/include.
INSTALL_DIRLIST = $(DESTDIR)$(DATADIR)/wire/.install-dirs
# The .pc file is written for the PREFIX given to install, which may differ from the build's.
install: lib $(INSTALL_PROGRAMS)
	@made=; for d in $(INSTALL_DIRS); do \
	    while [ "$$d" != / ] && [ "$$d" != . ] && [ ! -d "$(DESTDIR)$$d" ]; do made="$$made $$d"; d=$$(dirname "$$d"); done; \
	done; \
	install -d $(addprefix $(DESTDIR),$(INSTALL_DIRS)) && \
	{ [ ! -f $(INSTALL_DIRLIST) ] || cat $(INSTALL_DIRLIST); for d in $$made; do echo "$$d"; done; } | sort -u > $(INSTALL_DIRLIST).new && \
	mv $(INSTALL_DIRLIST).new $(INSTALL_DIRLIST)
	install -m 644 include/wire.h $(DESTDIR)$(INCLUDEDIR)/wire.h
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/libwire.a
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libwire.so.$(LIBVERSION)
	ln -sf libwire.so.$(LIBVERSION) $(DESTDIR)$(LIBDIR)/libwire.so.$(SOVERSION)
	ln -sf libwire.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libwire.so
	$(PC_SED) wire.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/wire.pc
	install -m 755 $(INSTALL_PROGRAMS) $(DESTDIR)$(BINDIR)/
	install -m 644 $(PROTO_FILES) $(DESTDIR)$(DATADIR)/wire/
	@for m in $(MAN_PAGES); do echo "install -m 644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/"; \
	    install -m 644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/ || exit 1; done
	@# the dynamic linker's cache must learn of libwire.so.0 in /usr/local/lib (a DESTDIR is a package's)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig || true; fi

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/wire.h $(DESTDIR)$(LIBDIR)/libwire.a $(DESTDIR)$(LIBDIR)/libwire.so \
	      $(DESTDIR)$(LIBDIR)/libwire.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libwire.so.$(LIBVERSION) \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/wire.pc \
	      $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INSTALL_PROGRAMS))) \
	      $(addprefix $(DESTDIR)$(DATADIR)/wire/,$(notdir $(PROTO_FILES))) \
	      $(foreach m,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))
	@dirs=; [ ! -f $(INSTALL_DIRLIST) ] || dirs=$$(sort -r $(INSTALL_DIRLIST)); rm -f $(INSTALL_DIRLIST); \
	rmdir $(DESTDIR)$(DATADIR)/wire 2>/dev/null || true; \
	for d in $$dirs; do rmdir "$(DESTDIR)$$d" 2>/dev/null || true; done
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig || true; fi

clean:
	rm -rf build

# Header dependencies, written by the compiler (-MMD -MP) next to each object and test binary.
-include $(LIB_OBJ:.o=.d) $(PEER_OBJ:.o=.d) $(BUILD)/interop/server.d $(BUILD)/interop/client.d \
         $(BUILD)/interop/exchange.d $(BUILD)/interop/conform*.d $(BUILD)/interop/wirecat*.d \
         $(BUILD)/examples/*.d $(BUILD)/tests/.deps/*.d $(BUILD)/interop-tests/.deps/*.d

# Portability targets (check-bigendian, check-m32, check-compilers) live in their own file.
-include mk/cross.mk
# Fuzzing (make fuzz, replayed corpora) and the attack suite (make check-adversarial).
-include mk/fuzz.mk
-include mk/adversarial.mk
# Benchmarks (make bench, never part of make test), and the instruction-count guard (part of it).
-include mk/bench.mk
# The course's lab (course/): generated skeletons and reference solutions, checked with wire-conform.
-include mk/course.mk
