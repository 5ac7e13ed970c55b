// Package oblivious holds data-oblivious primitives: code whose memory
// accesses and branches do not depend on secret data, so that an attacker
// who watches an enclave's memory bus, page faults or cache — which the
// TEE does not hide — learns only the public parameters.
//
// # What is oblivious, and at what granularity
//
// Each function's documentation states its public parameters (lengths,
// record sizes, iteration counts: what the trace may depend on) and its
// granularity: element (which elements are touched, in which order, is
// independent of secrets) or 64-byte cache line (which lines are touched
// is independent; offsets within a line are not). Everything here is
// element-granular unless it says otherwise.
//
// Building blocks (Lt, Eq, Select, CondSwap, …) are branch-free and
// constant-time: secret conditions are Masks (all ones or all zeros),
// never Go bools, which the compiler may compile to jumps. Comparisons
// cover the full 64-bit range (crypto/subtle's ConstantTimeLessOrEq is
// only defined below 2^31).
//
// On top of them: Sort (a bitonic network for any n, over records keyed by
// a method — the API the SQL enclave and the ML trainer use — and
// SortRows for records whose width is known only at run time), Compact,
// Aggregate (sort-based grouping), Read and Write by full scan, an ORAM
// for large arrays (Path ORAM's tree and recursive position map with
// Circuit ORAM's eviction: two fixed eviction paths per access, each a
// single pass that carries at most one block down), decision-tree
// inference (a public model by QuickScorer's leaf masks; a secret model
// of complete trees — any trees to depth 10, expanded by Complete — by a
// root-to-leaf walk whose every read is at cache-line granularity; deeper
// secret models by scans), and cache-line-granular reads and updates
// (lines.go: ReadLine64, ReadLineFloat, AddPairLines, AddPairLines32, and
// LineTable for several fields of one secret row), which touch every line
// of an array once and vary only the offset within a line — for code
// whose threat model is stated at 64-byte granularity, such as the ML
// trainers' per-node state.
//
// # What the Go runtime could leak, and how it is avoided
//
//   - Pointers: a pointer store goes through the garbage collector's write
//     barrier, whose work depends on the value. Records are fixed-size and
//     pointer-free (CheckRecord); every entry point that takes a slice of
//     records checks the type, while the per-element building blocks
//     (CondSwap, CondMove, SelectRecord) leave that to their callers.
//   - Allocation: no allocation size depends on a secret (only on public
//     lengths), so the allocator and GC pacing see public sizes only.
//   - Maps: none holds secrets (their hashing and probing branch on keys).
//   - Scheduling: no goroutine is started, and no channel operation or
//     lock depends on a secret.
//   - Bounds checks: indexes into secret data are public positions; a
//     secret index is never used to index (Read and Write scan instead).
//
// # Verification
//
// Package oblivious/trace records accesses when built with the obltrace
// tag; the tests run every primitive on many pairs of different secrets
// with the same public parameters and require identical traces, count
// executed branches through coverage counters, disassemble the building
// blocks to check for conditional jumps, and run dudect-style timing
// tests. The small audited core that needs unsafe is in record.go
// (CondSwap, CondMove on records), lines.go (the cache-line offsets) and
// complete.go (the row's keys read by line).
package oblivious
