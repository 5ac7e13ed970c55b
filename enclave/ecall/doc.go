// Package ecall hosts partitioned enclaves: a host program calls enclave
// code only through an explicit table of entry points (ECALLs), as SGX's
// edger8r interfaces do, so the boundary is small, named and reviewable.
//
// Two hostings share one interface, Caller:
//
//   - InProcess runs the table in the host's process, for speed: an ECALL
//     is an indirect call plus a copy of the input (well under a
//     microsecond). Use it in simulation and for whole-program enclaves
//     (SNP and TDX confidential VMs, EGo-style SGX), where host and enclave
//     code share one TEE.
//   - Process runs the table in a separate process that the platform
//     measures as the enclave the host launched (CONFIDE_ENCLAVE names its
//     image); the host relays bytes over a socket pair and never touches
//     enclave memory. On hardware the host cannot read that memory; in
//     simulation it is a separate process and nothing more.
//
// Errors returned by enclave code cross the boundary as text: never put
// secrets in them. A Process whose call fails mid-way, or whose context
// ends, is killed and reports ErrEnclaveGone from then on: a half-done
// ECALL leaves no state the host can trust. The channel format is in
// spec/ecall.md.
package ecall
