// Package snp is confide's AMD SEV-SNP backend: evidence from inside an
// SNP guest ([Attester]) and its offline verification ([Verifier]).
//
// This package cannot run on the machine it was written on: that machine
// is not an SEV-SNP guest, so [NewAttester] fails there. Everything is
// tested instead against go-sev-guest's fake AMD keys (package
// [github.com/confide/confide/enclave/snp/snptest] and go-sev-guest's own
// fake device), which exercise this package's logic but not real
// firmware, real hosts' certificate tables or AMD's real certificates
// beyond their parsing. Expect the first run on hardware to teach
// something.
//
// # What SNP attests, and what confide makes of it
//
// SNP's enclave is a whole virtual machine. At launch the AMD secure
// processor measures the guest's initial memory (MEASUREMENT) and records
// what the host configured: 32 bytes of HOST_DATA, an optional ID block
// signed by an ID key (itself optionally signed by an author key) that
// names a FAMILY_ID, IMAGE_ID and GUEST_SVN, and the guest policy. Later,
// the guest asks the processor for reports carrying 64 bytes of its own
// choosing, which the processor signs with a key derived from the chip's
// secret and its firmware's security patch levels: the VCEK (or, in some
// clouds, a VLEK the provider loaded). AMD certifies VCEKs with an ASK,
// VLEKs with an ASVK, both under a product line's root, the ARK.
//
// confide's identity model maps onto that directly (spec/evidence-snp.md
// has the table): MEASUREMENT is the unique ID, HOST_DATA the config ID
// (the launcher puts the manifest hash there), the author key digest or
// else the ID key digest the signer, the first two bytes of IMAGE_ID the
// product, GUEST_SVN the SVN, the policy's DEBUG bit the debug flag.
//
// # Evidence carries its chain, and the verifier needs no network
//
// AMD's key distribution service issues a VCEK certificate per chip and
// firmware level, rate-limits its clients, and is one more service to be
// up when a relying party verifies. So confide never calls it: the host
// must provision the certificates (the SNP extended-report certificate
// table), the attester copies the endorsement key certificate, its
// intermediate and the ARK into the evidence, and a verifier checks them
// against roots it already has. A verifier does not accept any chain that
// merely verifies: the intermediate and ARK must be byte for byte those of
// a configured [Root], so that no byte of evidence goes unchecked and a
// verifier's configuration says exactly which AMD certificates it trusts.
// The default roots are AMD's, as embedded in go-sev-guest ([AMDRoots]).
//
// Verification is the library's (go-sev-guest's verify package: chain,
// certificate form, signature) plus this package's own strictness where
// the library is lenient: bytes the signature does not cover (the top of
// the R and S fields, the signature padding) must be zero, the report must
// re-encode to exactly itself, and the certificate must certify the
// report's TCB and chip. No revocation list is consulted: AMD supersedes
// VCEKs by TCB level instead of revoking them.
//
// Verifying is dominated by one P-384 signature check. A [Verifier]
// remembers chains it has verified, keyed by a hash of the exact
// certificates, so that the second report from a machine does not pay for
// the chain's two RSA-4096 checks again; validity periods are still
// checked against the verifier's clock every time.
//
// # TCB status
//
// A report holds three firmware levels: the one running (CURRENT_TCB), the
// one committed against rollback (COMMITTED_TCB), and the one the host
// chose to report (REPORTED_TCB), which the VCEK certifies. confide
// reports UpToDate when the three agree, ConfigurationNeeded when the
// running firmware is not yet committed, OutOfDate when the certified
// level is below the committed one or below [Verifier.MinimumTCB]. A
// verifier has no feed of AMD's latest levels, so UpToDate means
// consistent, not latest: set MinimumTCB to the level you require.
//
// # Sealing
//
// [Attester.SealKey] derives keys in the secure processor from the chip,
// MEASUREMENT and the policy, and binds HOST_DATA and the request's key ID
// in software. It refuses [enclave.SealProduct]: the processor can mix in
// IMAGE_ID and FAMILY_ID but not the key that signed them, and anyone can
// sign an ID block with the same IDs, so a product key would not be bound
// to its signer. Product-sealed data goes through the key broker. Keys
// depend on the chip, so sealed data does not move between machines.
//
// # Known gaps
//
// go-sev-guest v0.15.0 decodes the TCB and chip ID extensions of Milan and
// Genoa certificates only; for Turin the certificate-to-report TCB check is
// skipped (the signature still binds them, since firmware signs with the
// VCEK of the TCB it reports). Claims do not carry VMPL, the
// migration-agent policy bit or PLATFORM_INFO, so policies cannot see
// them. Importing this package registers go-sev-guest's command-line flags
// (such as -sev_guest_device_path) on the standard flag set.
package snp
