# SPDX-License-Identifier: MIT
# mk/bench-codec.mk - the C codec benchmark (included by mk/bench.mk). Never part of make test.
#
#   make bench-codec        builds $(BENCH_BUILD)/bench-codec and runs it (timings, < 30 s), then
#                           bench/codec/instructions.sh (instructions per op from callgrind, < 30 s)
#   make bench-codec-build  the program only
#
# wire against a hand-written codec for the same layout (bench/codec/hand.h), msgpack-c, protobuf-c
# (C generated here from bench/codec/message.proto, never committed) and libcbor's streaming API.
# Output: a table, then lines "result codec <name> <unit> <median> <min> <max>".
BENCH_CODEC := $(BENCH_BUILD)/bench-codec
BENCH_CODEC_GEN := $(BENCH_BUILD)/codec-gen
BENCH_CODEC_PKGS := msgpack libprotobuf-c libcbor
BENCH_CODEC_CFLAGS = $(STD) -Iinclude -Ibench/codec -I$(BENCH_CODEC_GEN) $(CFLAGS) \
                     $(shell pkg-config --cflags $(BENCH_CODEC_PKGS))
BENCH_CODEC_LIBS = $(shell pkg-config --libs $(BENCH_CODEC_PKGS))

$(BENCH_CODEC_GEN)/message.pb-c.c $(BENCH_CODEC_GEN)/message.pb-c.h: bench/codec/message.proto
	@mkdir -p $(BENCH_CODEC_GEN)
	protoc-c --proto_path=bench/codec --c_out=$(BENCH_CODEC_GEN) bench/codec/message.proto

# The generated code is protoc-c's, compiled without our warning set.
$(BENCH_CODEC_GEN)/message.pb-c.o: $(BENCH_CODEC_GEN)/message.pb-c.c $(BENCH_CODEC_GEN)/message.pb-c.h
	$(CC) $(BENCH_CODEC_CFLAGS) -c $< -o $@

$(BENCH_CODEC): bench/codec/bench_codec.c bench/codec/hand.h bench/codec/msg.h bench/codec/wire_msg.h $(BENCH_CODEC_GEN)/message.pb-c.h \
                $(BENCH_CODEC_GEN)/message.pb-c.o $(LIB_A)
	$(CC) $(BENCH_CODEC_CFLAGS) $(WARN) bench/codec/bench_codec.c $(BENCH_CODEC_GEN)/message.pb-c.o $(LIB_A) \
	    $(LDFLAGS) $(BENCH_CODEC_LIBS) -o $@

bench-codec-build: $(BENCH_CODEC)

bench-codec: $(BENCH_CODEC)
	$(BENCH_CODEC) --hex bench/message.hex
	bench/codec/instructions.sh $(BENCH_CODEC)


.PHONY: bench-codec bench-codec-build
