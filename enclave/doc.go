// Package enclave is confide's platform API: the identity model shared by
// every trusted execution environment, the layout of report data, the
// evidence envelope, and the small interfaces that backends implement.
//
// # Identity
//
// Every backend describes the code it runs with the same [Identity]:
//
//   - unique ID: the measurement of the code (SGX MRENCLAVE, SNP MEASUREMENT,
//     TDX MRTD, the SHA-256 of the executable in simulation);
//   - config ID: the hash of the enclave's measured manifest, that is its
//     role, entry point and every setting that affects security (SNP
//     HOST_DATA, TDX MRCONFIGID, the manifest hash under SGX runtimes and
//     in simulation);
//   - signer ID, product ID and security version (SVN), the identity of the
//     party that signed the image and the version it gave it;
//   - the debug flag, the TCB status and the platform name.
//
// Evidence adds 64 bytes of report data (see [ReportData]). Verifiers turn
// evidence of any backend into [Claims], whose JSON names ("platform",
// "unique_id", "config_id", "signer_id", "product_id", "svn", "debug",
// "tcb_status", "report_data") are the names every policy in confide uses.
//
// # Seams
//
// A backend is a handful of one-method interfaces: an [Attester] produces
// evidence for report data, a [Self] reports the caller's own identity, a
// [Verifier] turns evidence into claims. Sealing keys are an optional
// capability ([SealKeyer]) found by type assertion: backends that derive
// keys in hardware offer it, the others seal through the key broker.
//
// # Backends
//
// enclave/sim is always built: a separate platform process that measures
// its callers and signs reports with a simulated vendor root. Its evidence
// is always marked simulated and debug, so that production policies reject
// it. enclave/snp and enclave/tdx verify AMD SEV-SNP reports and Intel TDX
// quotes and produce them on real hardware. enclave/enclavetest is the
// conformance suite every backend passes.
package enclave
