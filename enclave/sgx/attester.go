package sgx

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/dcap"
)

// QuoteProvider produces an SGX quote over report data for the calling
// enclave.
type QuoteProvider interface {
	Quote(ctx context.Context, reportData enclave.ReportData) ([]byte, error)
}

// Gramine is the QuoteProvider and seal key source of an enclave running
// under Gramine-SGX with remote attestation set to "dcap": its
// /dev/attestation pseudo-files. Root is that directory ("" means
// /dev/attestation; tests pass a directory of their own).
//
//   - attestation_type reads "dcap";
//   - user_report_data takes the 64 bytes of report data, and quote then
//     reads the DCAP quote over them (writes and reads are serialised
//     here: the pair is one operation);
//   - keys/_sgx_mrenclave and keys/_sgx_mrsigner read 16-byte sealing keys
//     that SGX derives for this enclave's MRENCLAVE or MRSIGNER.
type Gramine struct {
	Root string
	mu   sync.Mutex
}

func (g *Gramine) path(name string) string {
	root := g.Root
	if root == "" {
		root = "/dev/attestation"
	}
	return filepath.Join(root, name)
}

// Quote writes reportData and reads the quote Gramine makes over it.
func (g *Gramine) Quote(ctx context.Context, reportData enclave.ReportData) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	t, err := os.ReadFile(g.path("attestation_type"))
	if err != nil {
		return nil, fmt.Errorf("sgx: not under Gramine with remote attestation: %w", err)
	}
	if typ := strings.TrimSpace(string(t)); typ != "dcap" {
		return nil, fmt.Errorf("sgx: Gramine's attestation type is %q, not dcap (sgx.remote_attestation in the manifest)", typ)
	}
	if err := os.WriteFile(g.path("user_report_data"), reportData[:], 0); err != nil {
		return nil, fmt.Errorf("sgx: writing report data: %w", err)
	}
	q, err := os.ReadFile(g.path("quote"))
	if err != nil {
		return nil, fmt.Errorf("sgx: reading the quote: %w", err)
	}
	return q, nil
}

// sealBase reads one of Gramine's 16-byte sealing keys.
func (g *Gramine) sealBase(name string) ([]byte, error) {
	k, err := os.ReadFile(g.path(filepath.Join("keys", name)))
	if err != nil {
		return nil, fmt.Errorf("sgx: sealing key %s: %w", name, err)
	}
	if len(k) != 16 {
		return nil, fmt.Errorf("sgx: sealing key %s is %d bytes, want 16", name, len(k))
	}
	return k, nil
}

// Attester is the enclave side of the SGX backend: evidence from a
// QuoteProvider (Gramine by default), sealing keys from Gramine's.
type Attester struct {
	quotes   QuoteProvider
	gramine  *Gramine
	verifier enclave.Verifier
}

var (
	_ enclave.Platform  = (*Attester)(nil)
	_ enclave.SealKeyer = (*Attester)(nil)
)

// AttesterConfig configures an Attester.
type AttesterConfig struct {
	// Gramine is the /dev/attestation interface; nil means the real one.
	Gramine *Gramine
	// Quotes overrides where quotes come from (tests); nil means Gramine.
	Quotes QuoteProvider
	// Verifier, if set, verifies the enclave's own evidence in Identity,
	// so that the identity carries the TCB status that Intel's collateral
	// gives, which the enclave does not otherwise know. Without it,
	// Identity's TCBStatus is empty.
	Verifier enclave.Verifier
}

// NewAttester returns an attester for cfg.
func NewAttester(cfg AttesterConfig) *Attester {
	a := &Attester{quotes: cfg.Quotes, gramine: cfg.Gramine, verifier: cfg.Verifier}
	if a.gramine == nil {
		a.gramine = &Gramine{}
	}
	if a.quotes == nil {
		a.quotes = a.gramine
	}
	return a
}

// Evidence returns enveloped SGX evidence carrying reportData. The quote is
// checked to parse as the verifier parses it and to carry reportData; zero
// padding after its end is dropped.
func (a *Attester) Evidence(ctx context.Context, reportData enclave.ReportData) ([]byte, error) {
	raw, err := a.quotes.Quote(ctx, reportData)
	if err != nil {
		return nil, err
	}
	raw = dcap.TrimPadding(raw)
	q, err := dcap.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("sgx: the platform returned a bad quote: %w", err)
	}
	r, err := q.EnclaveReport()
	if err != nil {
		return nil, fmt.Errorf("sgx: the platform returned a bad quote: %w", err)
	}
	if !bytes.Equal(r.ReportData[:], reportData[:]) {
		return nil, errors.New("sgx: the platform returned a quote for other report data")
	}
	return wrapQuote(raw)
}

// Identity returns the identity in a quote over zero report data: with a
// configured Verifier, the identity Verify returns for it.
func (a *Attester) Identity(ctx context.Context) (enclave.Identity, error) {
	var zero enclave.ReportData
	ev, err := a.Evidence(ctx, zero)
	if err != nil {
		return enclave.Identity{}, err
	}
	if a.verifier != nil {
		c, err := a.verifier.Verify(ctx, ev)
		if err != nil {
			return enclave.Identity{}, fmt.Errorf("sgx: own evidence does not verify: %w", err)
		}
		return c.Identity, nil
	}
	_, payload, _ := enclave.UnwrapEvidence(ev)
	q, _, err := parsePayload(payload)
	if err != nil {
		return enclave.Identity{}, err
	}
	r, _ := q.EnclaveReport()
	return claimsOf(&dcap.Result{Report: r}).Identity, nil
}

// SealKey derives a 32-byte sealing key from Gramine's MRENCLAVE key
// (SealUnique) with HKDF-SHA-256, salted by the key ID. SGX derives that
// key from the enclave's MRENCLAVE and the platform's current CPU SVN:
// a microcode update changes it, so sealed data does not survive one.
// SealProduct is not offered: Gramine's MRSIGNER key is derived for the
// enclave's current ISV SVN only, so an upgraded enclave could not read
// what an earlier version sealed — the promise SealProduct makes. On SGX,
// state that must outlive an upgrade or a microcode update is recovered
// through the key broker's release (or the ledger's recovery), not from
// the seal key alone.
func (a *Attester) SealKey(ctx context.Context, req enclave.KeyRequest) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch req.Policy {
	case enclave.SealUnique:
	case enclave.SealProduct:
		return nil, fmt.Errorf("sgx: product sealing keys: %w (Gramine derives MRSIGNER keys for the current ISV SVN only)", errors.ErrUnsupported)
	default:
		return nil, fmt.Errorf("sgx: seal policy %v", req.Policy)
	}
	base, err := a.gramine.sealBase("_sgx_mrenclave")
	if err != nil {
		return nil, err
	}
	return hkdf.Key(sha256.New, base, req.KeyID[:], "confide sgx seal unique", 32)
}
