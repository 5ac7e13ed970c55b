package enclave

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
)

// Manifest is what an enclave is launched with, beyond its code: the role
// it plays, the entry point it must run and the settings that affect its
// security. The config ID is the SHA-256 of the manifest's exact bytes, so
// two services of the one confide binary are two enclaves with two
// identities, and a host that launches the binary with another manifest
// launches another enclave.
type Manifest struct {
	Version int `json:"version"`
	// Role names the service: "cli", "attestsvc", "kms", "sql", "ledger",
	// "ml", or an application's own.
	Role string `json:"role"`
	// Entry is the command the enclave runs, fixed by the manifest so that
	// a host cannot run other code under this identity. ["cli"] means the
	// command line is the caller's to choose: only the CLI has that.
	Entry []string `json:"entry"`
	// Settings are role-specific and security-relevant (ports are not).
	Settings map[string]string `json:"settings,omitempty"`
}

// ManifestVersion is the only manifest version confide reads.
const ManifestVersion = 1

var roleRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// CLIManifest is the manifest of processes launched without one: confide's
// CLI, and any program using the library directly.
var CLIManifest = Manifest{Version: ManifestVersion, Role: "cli", Entry: []string{"cli"}}

// Marshal returns the manifest's canonical bytes.
func (m Manifest) Marshal() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // only strings and ints: cannot fail
	}
	return b
}

// ConfigID returns the SHA-256 of the canonical bytes.
func (m Manifest) ConfigID() []byte {
	h := sha256.Sum256(m.Marshal())
	return h[:]
}

// ParseManifest reads a manifest and checks that its bytes are canonical,
// so that one manifest has one config ID.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Manifest{}, errors.New("manifest: trailing data")
	}
	if m.Version != ManifestVersion {
		return Manifest{}, fmt.Errorf("manifest: unsupported version %d", m.Version)
	}
	if !roleRE.MatchString(m.Role) {
		return Manifest{}, fmt.Errorf("manifest: invalid role %q", m.Role)
	}
	if len(m.Entry) == 0 {
		return Manifest{}, errors.New("manifest: empty entry point")
	}
	if !bytes.Equal(m.Marshal(), b) {
		return Manifest{}, errors.New("manifest: not in canonical form")
	}
	return m, nil
}
