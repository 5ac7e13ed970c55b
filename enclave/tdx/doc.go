// Package tdx is confide's Intel TDX backend: an [Attester] that runs inside
// a trust domain (TD) and a [Verifier] that runs anywhere.
//
// # What a quote proves, and what it does not
//
// A TD quote is a TD report — the TD's measurements and 64 bytes of report
// data — signed by Intel's quoting enclave (QE) with an attestation key. The
// QE vouches for that key in its own SGX report, which the platform's PCK
// certificate signs, and the PCK certificate chains to Intel's SGX Root CA.
// A valid chain therefore says "some genuine Intel TDX platform produced
// this TD report". Whether that platform is patched is a separate question,
// answered by Intel's collateral: the TCB info for the platform's FMSPC and
// the QE identity, both signed by Intel, and the CRLs that revoke PCK
// certificates. go-tdx-guest performs all of these checks; this package
// decides what it is given and what it returns.
//
// # Collateral is an input, not a download
//
// The verifier never fetches anything by itself. [Config.Collateral] is
// required, and the usual source is [CollateralFS] over a directory that a
// separate job refreshes from Intel PCS: verification then has no network
// dependency, no latency spike and no outage mode, and what was trusted at
// any moment is a set of files an operator can inspect. Collateral needs no
// protection in transit or at rest — every piece is signed, and is checked
// against [Config.Roots] — but it expires (TCB info and QE identity within
// about a month), so a stale directory makes every verification fail. That
// is deliberate: a verifier that cannot learn about new vulnerabilities
// should stop accepting evidence rather than keep trusting old ratings.
// [GetterCollateral] exists for the rare verifier that should go to Intel
// itself, and for go-tdx-guest's canned test responses.
//
// Revocation is checked unless [Config.SkipRevocation] says otherwise, in
// which case the PCK CRL and the root CA CRL are neither needed nor read.
//
// # The claims
//
// TDX measures a TD differently from an SGX enclave, and the mapping onto
// confide's identity is a decision, recorded here:
//
//   - unique ID is MRTD, the measurement of the TD's initial memory: in
//     practice the virtual firmware (TDVF/OVMF). Everything the firmware
//     loads afterwards — kernel, initrd, command line, the workload — is
//     measured into the run-time registers RTMR0–3, which confide's claims
//     do not carry. MRTD alone therefore identifies a firmware, not a
//     workload.
//   - config ID is MRCONFIGID, 48 bytes that whoever launches the TD sets
//     and the TDX module measures. It is how a workload is bound: a TD image
//     whose firmware refuses to boot anything but the manifest whose hash is
//     MRCONFIGID makes the pair (unique ID, config ID) name the workload.
//     Policies for TDX must pin both; pinning MRTD alone admits any
//     workload that firmware can boot.
//   - signer ID is MROWNER, the identity of the TD's owner, set at launch.
//   - product ID and SVN are 0: a TD has no signer-assigned product or
//     version. The TEE_TCB_SVN in the quote is the TDX module's security
//     version, a property of the platform that the TCB status already
//     judges, and must not be mistaken for the TD's.
//   - debug is bit 0 (DEBUG) of TD_ATTRIBUTES. A debug TD's memory is
//     readable by the host; production policies reject it.
//   - TCB status comes from the TCB info level that matches the quote's
//     platform, combined with the TDX module's and the QE's levels (the
//     worst wins). go-tdx-guest v0.3.1 rejects every level other than
//     UpToDate, so verified evidence always says "UpToDate"; the mapping of
//     the other levels is implemented, tested, and checked to agree with the
//     library, so that a future library that reports rather than rejects
//     changes one line here and nothing for policies.
//   - report data is REPORTDATA.
//
// # Why the parser is stricter than the library
//
// The payload is a version byte followed by one quote (spec/evidence-tdx.md).
// Several bytes of a quote are covered by no signature: the PCK certificate
// chain is PEM, whose decoders skip whitespace, stray text and base64
// padding bits, and anything after the signed data is ignored. go-tdx-guest
// accepts those changes, and its parser panics on some inconsistent length
// fields. Evidence is an identifier as well as a proof — it is logged,
// hashed and compared — so the parser accepts exactly one encoding of each
// quote: lengths must account for every byte, the certificate chain must
// be canonical PEM, reserved fields must be zero, and the quote must
// re-serialise to its own bytes. A test changes every byte of valid
// evidence, in the ways PEM decoders forgive as well, and requires that
// each change is rejected.
//
// # Producing evidence
//
// The [Attester] asks the kernel for a quote through configfs-tsm
// (/sys/kernel/config/tsm/report, Linux 6.7 and later), which needs a TD on
// TDX hardware and a quoting service on the host. [QuoteProvider] is the seam
// for anything else. The TD cannot rate its own TCB — that takes Intel's
// collateral — so [Attester.Identity] leaves the TCB status empty unless
// [AttesterConfig.Verifier] is set, in which case it is what that verifier
// says of the TD's own evidence, as enclavetest expects of a backend.
// TDX derives no sealing keys for a TD, so the attester
// does not implement enclave.SealKeyer: a TD seals through confide's key
// broker, which releases keys against verified evidence.
//
// # What is tested, and how
//
// Evidence generation needs TDX hardware and is only tested here against a
// fake configfs-tsm: the tests check that the attester puts report data in
// the right place and wraps the quote correctly, and that the verifier
// rejects the fake's quotes, which no QE signed. Verification is tested
// against a real production quote captured on a Sapphire Rapids platform
// (shipped with go-tdx-guest), with a fixed clock and Intel's canned
// collateral. Intel's canned TCB info only rates SVNs above those of the
// quote's platform — no level matches it, and go-tdx-guest's own tests
// expect that failure —
// so the positive tests use a copy of that TCB info whose first level is
// lowered to the platform's SVNs and re-signed by a test root
// (testdata/collateral); the quote, its PCK chain and the QE identity stay
// Intel's.
package tdx
