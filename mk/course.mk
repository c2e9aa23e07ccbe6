# SPDX-License-Identifier: MIT
# The lab (course/): the generator's own tests, then the harness: every committed skeleton is the
# generator's; each language's generated solution passes its level with wire-conform, each skeleton
# passes the levels before its own and fails its own; each level-5 solution survives 100 clients with
# 48 descriptors (alive, not spinning, no zombie); the texts quote real output.
# CC=clang also builds the C solutions and skeletons with clang (gcc always).
.PHONY: test-course
test-course: $(CONFORM)
	@echo "== course/: the lab's generator (course/tools/test_lab_generator.py)"
	python3 course/tools/test_lab_generator.py
	@echo "== course/: the lab's solutions, skeletons and texts (course/tools/test_lab.py)"
	python3 course/tools/test_lab.py --conform $(CONFORM) --cc $(CC)
