# SPDX-License-Identifier: MIT
# mk/bench.mk - benchmarks (included at the end of the top-level Makefile). Never part of make test.
#
#   make bench        every benchmark, each beside its baseline, in one bounded run (under 10 minutes
#                     on 2 cores): bench/run.py prints the table of targets and writes it, with every
#                     figure and the plots, to bench/results.md (BENCHMARKS.md holds the latest)
#   make bench-quick  one short run of each, to try the machinery (its figures mean little)
#   make check-instructions   instruction counts per encode, decode and served ECHO (callgrind)
#                     against bench/instructions/ceilings.txt: part of make test
#
# Parts, each in its own file:
#   mk/bench-codec.mk   the C codec against a hand-written codec, msgpack-c, protobuf-c, libcbor
#   mk/bench-net.mk     the servers against a raw epoll echo, the load client, idle memory
#   bench/peers/        each peer's codec against its language's plain packing
BENCH_BUILD := $(BUILD)/bench

deps-bench:
	@scripts/need-packages.sh $$(scripts/packages.sh test bench)

# The OCaml peer's bench_codec is part of its dune project (interop/ocaml/bench/), built in the
# release profile (the dev profile compiles the library -opaque: nothing of it can be inlined), in a
# build directory of its own so that the tests' dev build is left as it is.
bench-build: deps-bench bench-codec-build bench-net-build $(SERVER)
	dune build --root interop/ocaml --profile release --build-dir $(abspath $(BENCH_BUILD))/ocaml \
	    ./bench/bench_codec.exe 2>&1

bench: bench-build
	python3 bench/run.py --build $(BUILD)

bench-quick: bench-build
	python3 bench/run.py --build $(BUILD) --quick --out $(BENCH_BUILD)/results-quick.md

.PHONY: bench bench-quick bench-build deps-bench
-include mk/bench-codec.mk
-include mk/bench-net.mk

# ---- the instruction-count guard (make test runs it) ----
BENCH_COUNT := $(BENCH_BUILD)/count
$(BENCH_COUNT): bench/instructions/count.c bench/codec/wire_msg.h bench/codec/msg.h include/wire.h $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Ibench/codec $< $(LIB_A) $(LDFLAGS) -o $@

check-instructions: $(BENCH_COUNT) $(SERVER)
	@echo "== instruction counts against bench/instructions/ceilings.txt (callgrind)"
	@scripts/need-packages.sh valgrind
	python3 bench/instructions/guard.py --build $(BUILD) --cc $(CC)

.PHONY: check-instructions
