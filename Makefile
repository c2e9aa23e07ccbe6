# wire - build, test and install.
#   make                      libwire.a, libwire.so, wire.pc, wire-server, wire-client
#   make test                 every test: C (cmocka), Python, Perl, OCaml and the interop matrix
#   make CC=clang test        the same with clang (objects go to build/clang)
#   make install PREFIX=/usr/local DESTDIR=
# Missing Debian packages are installed when run as root; otherwise the apt-get line is printed.

CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build/$(notdir $(CC))

SOVERSION := 0
LIBVERSION := 0.1.0

WARN := -Wall -Wextra -Wpedantic -Werror -Wstrict-prototypes -Wwrite-strings -Wshadow
STD := -std=c99 -D_POSIX_C_SOURCE=200809L
CFLAGS ?= -O2 -g
ALL_CFLAGS := $(STD) $(WARN) -Iinclude $(CFLAGS)
# Only symbols marked WIRE_EXPORT leave the shared library.
LIB_CFLAGS := $(ALL_CFLAGS) -fPIC -fvisibility=hidden

LIB_SRC := $(wildcard src/*.c)
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/lib/%.o)
LIB_A := $(BUILD)/libwire.a
LIB_SO := $(BUILD)/libwire.so.$(LIBVERSION)
PC := $(BUILD)/wire.pc

VEC_OBJ := $(BUILD)/interop/vectors.o

SERVER_SRC := $(wildcard server/*.c)
SERVER_OBJ := $(SERVER_SRC:server/%.c=$(BUILD)/server/%.o)
SERVER := $(BUILD)/wire-server

CLIENT_SRC := $(wildcard client/*.c)
CLIENT := $(BUILD)/wire-client

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all lib test test-c test-python test-perl test-ocaml test-interop test-example check-sanitize deps-test install uninstall clean
.DEFAULT_GOAL := all

all: lib $(SERVER) $(CLIENT)

lib: $(LIB_A) $(LIB_SO) $(PC)

$(BUILD)/lib/%.o: src/%.c include/wire.h src/internal.h
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libwire.so.$(SOVERSION) $(LDFLAGS) -o $@ $^
	ln -sf libwire.so.$(LIBVERSION) $(BUILD)/libwire.so.$(SOVERSION)
	ln -sf libwire.so.$(SOVERSION) $(BUILD)/libwire.so

$(PC): wire.pc.in Makefile
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(LIBVERSION)|g' $< > $@

$(VEC_OBJ): interop/c/vectors.c interop/c/vectors.h include/wire.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The interop server: service + concurrency models (server/*.c).
$(BUILD)/server/%.o: server/%.c $(wildcard server/*.h) interop/c/vectors.h include/wire.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Iinterop/c -c $< -o $@

$(SERVER): $(SERVER_OBJ) $(VEC_OBJ) $(LIB_A)
	$(CC) $(SERVER_OBJ) $(VEC_OBJ) $(LIB_A) $(LDFLAGS) -lpthread -o $@

# The interop client (design section 10).
$(CLIENT): $(CLIENT_SRC) $(wildcard client/*.h) interop/c/vectors.h include/wire.h $(VEC_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Iinterop/c $(CLIENT_SRC) $(VEC_OBJ) $(LIB_A) $(LDFLAGS) -o $@

# ---- tests ----
# Tests may use what POSIX 2008 lacks (MAP_ANONYMOUS for guard pages): _DEFAULT_SOURCE there only.
CMOCKA_LIBS := -lcmocka

# The service is linked in too: test_service drives it without sockets.
SERVICE_OBJ := $(BUILD)/server/service.o
$(BUILD)/tests/%: tests/%.c tests/testutil.h $(LIB_A) $(VEC_OBJ) $(SERVICE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -D_DEFAULT_SOURCE -Iinterop/c -Iserver -Itests $< $(SERVICE_OBJ) $(VEC_OBJ) $(LIB_A) $(LDFLAGS) $(CMOCKA_LIBS) -lpthread -o $@

# Every test: C (cmocka, gcc or $(CC)), each peer with its own runner, then the interop matrix.
TEST_PACKAGES := gcc make pkg-config libcmocka-dev python3 perl ocaml-nox ocaml-dune

deps-test:
	@scripts/need-packages.sh $(TEST_PACKAGES)

test: deps-test
	@$(MAKE) --no-print-directory test-c test-python test-perl test-ocaml test-interop test-example

# Each binary prints cmocka's summary; a failing one fails the run, after all have run.
test-c: $(TEST_BIN) $(SERVER) $(CLIENT)
	@fail=0; for t in $(TEST_BIN); do echo "== $$t"; $$t || fail=1; done; exit $$fail

test-python:
	@echo "== python3 -m unittest (interop/python)"
	python3 -m unittest discover -s interop/python/tests

test-perl:
	@echo "== prove (interop/perl)"
	prove -I interop/perl/lib interop/perl/t

test-ocaml:
	@echo "== dune test (interop/ocaml)"
	cd interop/ocaml && dune build 2>&1 && dune test

# The README's example, built against an installed copy through pkg-config.
test-example: lib $(SERVER)
	@echo "== README example"
	scripts/test-example.sh $(BUILD) $(CC)

test-interop: $(SERVER) $(CLIENT)
	@echo "== interop/run_all.sh"
	CC=$(CC) interop/run_all.sh
	@echo "== every client against the iterative C server (one connection at a time)"
	CC=$(CC) interop/run_all.sh --servers c --c-mode iterative

# The whole C suite (library, service, server, client) under AddressSanitizer and UBSan, in its own
# build directory; any report fails the run.
SANITIZE := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
check-sanitize:
	@$(MAKE) --no-print-directory BUILD=build/sanitize-$(notdir $(CC)) CFLAGS="$(SANITIZE)" LDFLAGS="$(SANITIZE)" test-c

# ---- install ----
# The .pc file is written for the PREFIX given to install, which may differ from the build's.
install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/wire.h $(DESTDIR)$(PREFIX)/include/wire.h
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/libwire.a
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libwire.so.$(LIBVERSION)
	ln -sf libwire.so.$(LIBVERSION) $(DESTDIR)$(PREFIX)/lib/libwire.so.$(SOVERSION)
	ln -sf libwire.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libwire.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(LIBVERSION)|g' wire.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/wire.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/wire.h $(DESTDIR)$(PREFIX)/lib/libwire.a \
	      $(DESTDIR)$(PREFIX)/lib/libwire.so* $(DESTDIR)$(PREFIX)/lib/pkgconfig/wire.pc

clean:
	rm -rf build

# Portability targets (check-bigendian, check-m32, check-compilers) live in their own file.
-include mk/cross.mk
