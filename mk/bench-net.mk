# SPDX-License-Identifier: MIT
# mk/bench-net.mk - the network benchmark (included by mk/bench.mk). Never part of make test.
#
#   make bench-net         builds the load client, the raw echo and wire-server, then runs
#                          bench/net/run.py: every scenario against the raw epoll echo and every
#                          wire-server model alternately, 5 runs each, then idle memory at 1,000 and
#                          10,000 connections (bounded by run.py --budget 300 s: under 6 minutes
#                          with the build; stops by itself)
#   make bench-net-quick   the same, 1 short run each (about a minute), for trying
#   make bench-net-build   the programs only
#
# Extra arguments: BENCH_NET_ARGS (e.g. "--servers raw,epoll --scenarios pingpong" or
# "--server-arg=--loops=2"). Output: lines "result net <server>.<scenario>.<metric> <unit> <median>
# <min> <max>" (bench/net/run.py says which); progress goes to stderr. Loopback only; Linux only.
BENCH_NET_LOAD := $(BENCH_BUILD)/net/load
BENCH_NET_RAW := $(BENCH_BUILD)/net/rawecho
BENCH_NET_ARGS ?=
BENCH_NET_RUN = python3 bench/net/run.py --load $(BENCH_NET_LOAD) --rawecho $(BENCH_NET_RAW) \
                --wire-server $(SERVER)

$(BENCH_NET_LOAD): bench/net/load.c include/wire.h $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< $(LIB_A) $(LDFLAGS) -o $@

$(BENCH_NET_RAW): bench/net/rawecho.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< $(LDFLAGS) -o $@

bench-net-build: $(BENCH_NET_LOAD) $(BENCH_NET_RAW) $(SERVER)

bench-net: bench-net-build
	$(BENCH_NET_RUN) $(BENCH_NET_ARGS)

bench-net-quick: bench-net-build
	$(BENCH_NET_RUN) --quick $(BENCH_NET_ARGS)


.PHONY: bench-net bench-net-quick bench-net-build
