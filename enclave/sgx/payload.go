package sgx

import (
	"errors"
	"fmt"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/dcap"
)

// The payload (spec/evidence-sgx.md) is a version byte followed by exactly
// one SGX quote of format 3 or 4.
const payloadV1 = 1

// parsePayload reads a version 1 payload: every rule of the quote format
// is checked (dcap.Parse) before any signature is.
func parsePayload(b []byte) (*dcap.Quote, []byte, error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: empty sgx payload", enclave.ErrMalformedEvidence)
	}
	if b[0] != payloadV1 {
		return nil, nil, fmt.Errorf("%w: unsupported sgx payload version %d", enclave.ErrMalformedEvidence, b[0])
	}
	raw := b[1:]
	q, err := dcap.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", enclave.ErrMalformedEvidence, err)
	}
	if q.TEEType != dcap.TEESGX {
		return nil, nil, fmt.Errorf("%w: a TDX quote in an sgx payload", enclave.ErrMalformedEvidence)
	}
	return q, raw, nil
}

// wrapQuote makes evidence of a quote.
func wrapQuote(quote []byte) ([]byte, error) {
	if _, err := dcap.Parse(quote); err != nil {
		return nil, fmt.Errorf("sgx: the platform's quote: %w", err)
	}
	return enclave.WrapEvidence(enclave.PlatformSGX, append([]byte{payloadV1}, quote...))
}

// errNoCollateral is wrapped by collateral sources that have nothing for
// a platform.
var errNoCollateral = errors.New("sgx: no collateral")
