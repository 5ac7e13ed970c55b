// Package sim is the simulated TEE: always built, used by `confide dev`,
// tests and CI, and never to be mistaken for hardware.
//
// The platform is a separate process (`confide platform serve`, started on
// demand and exiting when idle, like gpg-agent) that holds what a CPU
// vendor and a CPU would: a simulated vendor root CA (ECDSA P-384), a
// platform attestation key certified by it, and a platform sealing
// secret, all created by `confide platform init` under
// $CONFIDE_HOME/platform (mode 0700).
//
// The attestation key is ECDSA P-256, as Intel SGX DCAP's, and signs
// report version 2. A platform initialised before version 2 holds a P-384
// key: it signs version 1 reports until [Load] renews the key (when less
// than 30 of its 90 days are left), then switches to a P-256 key and
// version 2. The [Verifier] accepts both versions, each only with its own
// curve. P-256 is for speed: a version 2 report verifies about ten times
// faster than a version 1 report, whose P-384 verification Go does without
// assembly.
//
// Enclave code talks to it over a Unix socket ([Client]). The platform
// measures every caller itself, from the kernel's peer credentials: the
// SHA-256 of the executable behind /proc/PID/exe is the unique ID, and the
// enclave image named by CONFIDE_ENCLAVE in the environment the process
// was launched with gives the manifest (its hash is the config ID) and, if
// signed, the signer, product and SVN ([Image], made by
// `confide enclave sign`). A process launched without an image runs the
// unsigned CLI manifest: zero signer, product 0, SVN 0. So enclave code
// never declares its own identity, and what it can obtain evidence or keys
// for is what the platform measured. (The simulation reads the launch
// environment when the process first connects, so it trusts measured code
// not to rewrite its own environment first; hardware has no such gap.)
//
// What simulation is not: isolation. The host, as the same user or root,
// can read a simulated enclave's memory and the platform's keys. Every
// report is therefore marked simulated and debug (platform "sim", debug
// true), and attest policies accept it only when they explicitly include
// {"claim": "platform", "equals": "sim"}.
//
// Formats: spec/evidence-sim.md (reports), spec/enclave-image.md (images),
// spec/sim-platform.md (the socket protocol).
package sim
