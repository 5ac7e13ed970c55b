package enclave

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
)

// ReportData is the 64 bytes a platform signs on behalf of the enclave.
// confide uses one layout everywhere (spec/reportdata.md): bytes 0–31 are a
// verifier's nonce (zero when there is none, right-padded with zeros when
// shorter), bytes 32–63 are the SHA-256 of the runtime data the evidence
// binds (a public key, a certificate's key, a JSON document of claims).
type ReportData [64]byte

// ErrNonceTooLong is returned for nonces over 32 bytes.
var ErrNonceTooLong = errors.New("enclave: nonce longer than 32 bytes")

// NewReportData lays out a nonce and the hash of runtime data. A nil
// runtime data hashes the empty string, so that "no runtime data" is still
// a definite, checkable value.
func NewReportData(nonce, runtimeData []byte) (ReportData, error) {
	var rd ReportData
	if len(nonce) > 32 {
		return rd, ErrNonceTooLong
	}
	copy(rd[:32], nonce)
	h := sha256.Sum256(runtimeData)
	copy(rd[32:], h[:])
	return rd, nil
}

// Nonce returns the nonce half.
func (rd ReportData) Nonce() []byte { return rd[:32] }

// HasNonce reports, in constant time, whether the report data starts with
// the nonce, zero-padded to 32 bytes.
func (rd ReportData) HasNonce(nonce []byte) bool {
	if len(nonce) > 32 {
		return false
	}
	var want [32]byte
	copy(want[:], nonce)
	return subtle.ConstantTimeCompare(rd[:32], want[:]) == 1
}

// Binds reports whether the second half is the SHA-256 of runtimeData.
func (rd ReportData) Binds(runtimeData []byte) bool {
	h := sha256.Sum256(runtimeData)
	return subtle.ConstantTimeCompare(rd[32:], h[:]) == 1
}
