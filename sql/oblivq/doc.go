// Package oblivq is the SQL enclave's oblivious mode for aggregate
// queries (issue 25): filter, GROUP BY and SUM / COUNT / AVG / MIN / MAX
// over a table's rows, which the host streams in storage order, computed
// so that the enclave's memory accesses and the result it hands back
// depend only on the number of rows (and, unless padded, the number of
// groups) — never on the values.
//
// The plan follows Opaque and ObliDB: every row is decoded and its filter
// evaluated branch-free into a keep mask; rows are sorted by group key
// with the oblivious library's bitonic network; one linear scan carries
// running aggregates across equal keys (rows the filter dropped count for
// nothing); the last row of each group that kept any row is compacted to
// the front. Group keys are exact 64-bit encodings of the grouping
// values (integers, BIT, DATE — the types whose plaintext is 8 bytes or
// less); values are exact decimals (package decimal), in constant time.
//
// Leakage: the number of rows in, and the number of groups out (Pad
// hides it behind a public bound). Overflow of a sum past 38 digits is
// reported after the whole scan, as one error for the query.
package oblivq
