// Package obl trains and applies the ML models of packages logreg,
// kmeans and gbdt obliviously: a host that watches the trainer's memory
// accesses and branches learns the public parameters — the number of
// rows and features, the hyperparameters, the iteration counts — and
// nothing of the rows' values. The models are the same formats as the
// ordinary trainers' and are as accurate (the tests compare them on the
// breast-cancer data); `confide ml train --oblivious` and a job
// manifest's "oblivious": true choose these trainers.
//
// # Threat model
//
// An attacker who sees the sequence of memory addresses the trainer
// touches (at the granularity each function states: element or 64-byte
// cache line) and the branches it takes. Timing that varies with a
// value without changing that sequence is outside it: floating-point
// division by a secret is accepted (its latency may vary with its
// operands; it touches no memory), which the leak checker allows in the
// functions annotated //confide:oblivious float-division; integer
// division by a secret is not. Subnormal floating-point operands can be
// slower on x86 CPUs: a timing channel of the same kind.
//
// # How
//
//   - No loop runs a data-dependent number of times: every solver runs
//     its stated number of iterations, with no early stop.
//   - Choices are masks, not branches (package oblivious): an accepted
//     step, an assignment to a cluster, a split.
//   - math.Exp and math.Log branch on their argument; Exp, Log, Sigmoid
//     and Softplus here are branch-free, with their errors stated and
//     tested against package math.
//   - The training data and the accumulators live in traced containers
//     (package oblivious/trace), so that with the obltrace build tag the
//     tests record every access and require identical traces for data
//     sets that differ only in their values — adversarial pairs: all rows
//     one class against balanced, duplicate rows against distinct,
//     extreme values against ordinary — while the ordinary trainers,
//     recorded the same way, are shown to differ on the same pairs.
//   - Work is shared among CPUs by a partition of the rows that depends
//     only on their number; with obltrace, by one goroutine.
//
// Which answers are declassified, and why: whether the data set is
// well-formed (a job that fails says so anyway, never which row), and
// what the model itself holds (coefficients, centres, trees, whether the
// solver converged).
package obl
