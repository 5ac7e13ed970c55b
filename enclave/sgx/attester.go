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

// Runtime is the SGX runtime a confide enclave runs in: Gramine
// (/dev/attestation) or EGo (its runtime's system calls). It gives quotes
// and the 16-byte seal keys SGX derives for the enclave's MRENCLAVE
// (enclave.SealUnique) or MRSIGNER (enclave.SealProduct), both from the
// platform's current CPU SVN and the enclave's ISV SVN.
type Runtime interface {
	QuoteProvider
	SealBase(ctx context.Context, policy enclave.SealPolicy) ([]byte, error)
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

// SealBase reads Gramine's MRENCLAVE or MRSIGNER sealing key.
func (g *Gramine) SealBase(ctx context.Context, policy enclave.SealPolicy) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch policy {
	case enclave.SealUnique:
		return g.sealBase("_sgx_mrenclave")
	case enclave.SealProduct:
		return g.sealBase("_sgx_mrsigner")
	}
	return nil, fmt.Errorf("sgx: seal policy %v", policy)
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
// QuoteProvider (the runtime by default), sealing keys from the runtime's
// (Gramine by default).
type Attester struct {
	quotes   QuoteProvider
	runtime  Runtime
	verifier enclave.Verifier

	mu  sync.Mutex
	own *dcap.Report // the enclave's report, read once: it does not change while it runs
}

// ownReport is the enclave's own report, from a quote over zero report
// data, read once.
func (a *Attester) ownReport(ctx context.Context) (dcap.Report, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.own != nil {
		return *a.own, nil
	}
	ev, err := a.Evidence(ctx, enclave.ReportData{})
	if err != nil {
		return dcap.Report{}, err
	}
	_, payload, _ := enclave.UnwrapEvidence(ev)
	q, _, err := parsePayload(payload)
	if err != nil {
		return dcap.Report{}, err
	}
	r, err := q.EnclaveReport()
	if err != nil {
		return dcap.Report{}, err
	}
	a.own = &r
	return r, nil
}

var (
	_ enclave.Platform  = (*Attester)(nil)
	_ enclave.SealKeyer = (*Attester)(nil)
)

// AttesterConfig configures an Attester.
type AttesterConfig struct {
	// Runtime is the SGX runtime; nil means Gramine's real
	// /dev/attestation.
	Runtime Runtime
	// Quotes overrides where quotes come from (tests); nil means the
	// runtime.
	Quotes QuoteProvider
	// Verifier, if set, verifies the enclave's own evidence in Identity,
	// so that the identity carries the TCB status that Intel's collateral
	// gives, which the enclave does not otherwise know. Without it,
	// Identity's TCBStatus is empty.
	Verifier enclave.Verifier
}

// NewAttester returns an attester for cfg.
func NewAttester(cfg AttesterConfig) *Attester {
	a := &Attester{quotes: cfg.Quotes, runtime: cfg.Runtime, verifier: cfg.Verifier}
	if a.runtime == nil {
		a.runtime = &Gramine{}
	}
	if a.quotes == nil {
		a.quotes = a.runtime
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
	if a.verifier != nil {
		ev, err := a.Evidence(ctx, enclave.ReportData{})
		if err != nil {
			return enclave.Identity{}, err
		}
		c, err := a.verifier.Verify(ctx, ev)
		if err != nil {
			return enclave.Identity{}, fmt.Errorf("sgx: own evidence does not verify: %w", err)
		}
		return c.Identity, nil
	}
	r, err := a.ownReport(ctx)
	if err != nil {
		return enclave.Identity{}, err
	}
	return claimsOf(&dcap.Result{Report: r}).Identity, nil
}

// SealKey derives a 32-byte sealing key with HKDF-SHA-256 from one of
// the runtime's keys, salted by the key ID: SealUnique from the MRENCLAVE key,
// SealProduct from the MRSIGNER key and the requested SVN (at most the
// enclave's own). SGX derives both of the runtime's keys from the platform's
// current CPU SVN and the enclave's current ISV SVN, so — unlike on the
// other backends — a microcode update changes every key, and an enclave
// upgrade changes the product keys too: an upgraded enclave cannot read
// what an earlier version sealed, whatever SVN it asks for. On SGX,
// sealed state that must outlive either is recovered another way (the key
// broker's release, the ledger's recovery): docs/sgx.md.
func (a *Attester) SealKey(ctx context.Context, req enclave.KeyRequest) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	info := "confide sgx seal unique"
	switch req.Policy {
	case enclave.SealUnique:
	case enclave.SealProduct:
		r, err := a.ownReport(ctx)
		if err != nil {
			return nil, err
		}
		if req.SVN > r.ISVSVN {
			return nil, enclave.ErrSVNTooHigh
		}
		info = fmt.Sprintf("confide sgx seal product %d %d", r.ISVProdID, req.SVN)
	default:
		return nil, fmt.Errorf("sgx: seal policy %v", req.Policy)
	}
	base, err := a.runtime.SealBase(ctx, req.Policy)
	if err != nil {
		return nil, err
	}
	defer clear(base)
	return hkdf.Key(sha256.New, base, req.KeyID[:], info, 32)
}
