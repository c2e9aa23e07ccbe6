# SPDX-License-Identifier: MIT
# mk/adversarial.mk - the attack suite and the differential fuzzer (included at the end of the
# top-level Makefile; Python 3 stdlib only, interop/adversarial/).
#
#   make check-adversarial     every attack case against every C model (epoll, poll, select, fork,
#                              thread; iterative for the one-connection cases) and the Python, Perl
#                              and OCaml servers, a well-behaved client beside each; 2 to 3 minutes on 2 cores
#   make check-differential    mutated payloads and frames sent to the four servers, every answer
#                              compared; bounded to DIFF_SECONDS (default 38, so that the whole target stays under 45 s)
#
# Extra arguments: ADVERSARIAL_ARGS (e.g. "--servers c-epoll,python --cases half-close" or "--long"),
# DIFF_ARGS (e.g. "--seconds 600" or "--count 20000 --seed 7"). Loopback only; every load is bounded.

.PHONY: check-adversarial check-differential adversarial-peers

DIFF_SECONDS ?= 38
ADVERSARIAL_ARGS ?=
DIFF_ARGS ?=

# wire-server from this build directory, and the OCaml server (as interop/run_all.sh builds it)
adversarial-peers: deps-test $(SERVER)
	@(cd interop/ocaml && dune build 2>&1) >/dev/null || (cd interop/ocaml && dune build)

check-adversarial: adversarial-peers
	@echo "== interop/adversarial/test_machinelock.py (how a case tried again gets the machine to itself)"
	python3 interop/adversarial/test_machinelock.py
	@echo "== interop/adversarial/attack.py (every C model, python, perl, ocaml)"
	python3 interop/adversarial/attack.py --build $(BUILD) $(ADVERSARIAL_ARGS)

check-differential: adversarial-peers
	@echo "== interop/adversarial/differential.py (c, python, perl, ocaml; $(DIFF_SECONDS) s)"
	python3 interop/adversarial/differential.py --build $(BUILD) --seconds $(DIFF_SECONDS) $(DIFF_ARGS)
