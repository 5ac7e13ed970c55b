package enclave

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The evidence envelope (spec/evidence.md): a magic, a version and a
// platform tag in front of the backend's own payload, so that one verifier
// can dispatch any backend's evidence and nothing is ever parsed as the
// wrong kind.
const (
	evidenceMagic   = "CFEV"
	evidenceVersion = 1
	envelopeHeader  = 4 + 1 + 1 + 4
	// MaxEvidence bounds every evidence blob confide accepts.
	MaxEvidence = 1 << 20
)

var platformTags = map[string]byte{PlatformSim: 1, PlatformSGX: 2, PlatformSNP: 3, PlatformTDX: 4}

// ErrMalformedEvidence is wrapped by every envelope parsing error.
var ErrMalformedEvidence = errors.New("malformed evidence")

// WrapEvidence puts a backend payload in the envelope.
func WrapEvidence(platform string, payload []byte) ([]byte, error) {
	tag, ok := platformTags[platform]
	if !ok {
		return nil, fmt.Errorf("enclave: unknown platform %q", platform)
	}
	if len(payload) > MaxEvidence-envelopeHeader {
		return nil, errors.New("enclave: evidence payload too large")
	}
	out := make([]byte, envelopeHeader, envelopeHeader+len(payload))
	copy(out, evidenceMagic)
	out[4] = evidenceVersion
	out[5] = tag
	binary.BigEndian.PutUint32(out[6:], uint32(len(payload)))
	return append(out, payload...), nil
}

// UnwrapEvidence returns the platform name and payload of an envelope. The
// payload aliases evidence.
func UnwrapEvidence(evidence []byte) (platform string, payload []byte, err error) {
	if len(evidence) < envelopeHeader || len(evidence) > MaxEvidence {
		return "", nil, fmt.Errorf("%w: bad length %d", ErrMalformedEvidence, len(evidence))
	}
	if string(evidence[:4]) != evidenceMagic {
		return "", nil, fmt.Errorf("%w: not confide evidence", ErrMalformedEvidence)
	}
	if evidence[4] != evidenceVersion {
		return "", nil, fmt.Errorf("%w: unsupported version %d", ErrMalformedEvidence, evidence[4])
	}
	for name, tag := range platformTags {
		if tag == evidence[5] {
			platform = name
		}
	}
	if platform == "" {
		return "", nil, fmt.Errorf("%w: unknown platform tag %d", ErrMalformedEvidence, evidence[5])
	}
	n := binary.BigEndian.Uint32(evidence[6:])
	if uint64(n) != uint64(len(evidence)-envelopeHeader) {
		return "", nil, fmt.Errorf("%w: payload length %d does not match %d bytes", ErrMalformedEvidence, n, len(evidence)-envelopeHeader)
	}
	return platform, evidence[envelopeHeader:], nil
}
