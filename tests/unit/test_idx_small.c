/*
 * test_idx_small.c - test_idx.c's tests run on an index built with tiny nodes: 6 entries
 * per leaf, 4 children per inner node.
 *
 * With 4 KiB nodes the randomized tests' 20,000 keys make a tree of two levels, so inner
 * nodes rarely split or merge; here the same tests build trees of 8 levels (20,000
 * random keys) or 9 (60,000) in which nearly every insert or remove splits, merges or
 * rebalances inner nodes, and copy-on-write of snapshots must copy and retire them
 * correctly. idx.c is compiled into this test with the small sizes (the engine
 * library's idx.o is not linked: every idx_ symbol is defined here).
 */
#define IDX_LEAF_CAP  6
#define IDX_INNER_CAP 4
#include "../../engine/idx.c"
#include "test_idx.c"
