package tdx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/dcap"
	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/linuxtsm"
	"github.com/google/go-configfs-tsm/report"
)

// QuoteProvider produces a raw TDX quote whose REPORTDATA is reportData.
type QuoteProvider interface {
	Quote(ctx context.Context, reportData enclave.ReportData) ([]byte, error)
}

// tsmProvider is the name the Linux TDX guest driver gives its configfs-tsm
// report provider.
const tsmProvider = "tdx_guest"

// ConfigFS is the QuoteProvider of a Linux TDX guest: it asks the kernel
// through configfs-tsm (/sys/kernel/config/tsm/report, Linux 6.7 and
// later), which has the TDX module sign a TD report and the host's quoting
// service turn it into a quote.
type ConfigFS struct {
	// Client is the configfs to use. nil means the real one.
	Client configfsi.Client
}

// Quote implements QuoteProvider. The kernel call cannot be cancelled; ctx
// is checked before it is made.
func (c ConfigFS) Quote(ctx context.Context, reportData enclave.ReportData) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	client := c.Client
	if client == nil {
		var err error
		if client, err = linuxtsm.MakeClient(); err != nil {
			return nil, fmt.Errorf("tdx: configfs-tsm unavailable: %w", err)
		}
	}
	resp, err := report.Get(client, &report.Request{InBlob: reportData[:]})
	if err != nil {
		return nil, fmt.Errorf("tdx: configfs-tsm report: %w", err)
	}
	if p := strings.TrimSpace(resp.Provider); p != tsmProvider {
		return nil, fmt.Errorf("tdx: configfs-tsm provider is %q, not %q", p, tsmProvider)
	}
	return resp.OutBlob, nil
}

// Attester produces TDX evidence for the calling TD. It implements
// enclave.Attester and enclave.Self, not enclave.SealKeyer: TDX derives no
// sealing keys for a TD, which seals through confide's key broker instead.
type Attester struct {
	quotes   QuoteProvider
	verifier enclave.Verifier
}

var _ enclave.Platform = (*Attester)(nil)

// AttesterConfig configures an Attester.
type AttesterConfig struct {
	// Quotes produces quotes. nil means ConfigFS{}.
	Quotes QuoteProvider
	// Verifier, if set, verifies the TD's own evidence in Identity, so that
	// the identity carries the TCB status a verifier reports from Intel's
	// collateral, which the TD does not otherwise have. Without it,
	// Identity's TCBStatus is empty.
	Verifier enclave.Verifier
}

// NewAttester returns an attester for cfg.
func NewAttester(cfg AttesterConfig) *Attester {
	a := &Attester{quotes: cfg.Quotes, verifier: cfg.Verifier}
	if a.quotes == nil {
		a.quotes = ConfigFS{}
	}
	return a
}

// Evidence returns enveloped TDX evidence carrying reportData. The quote is
// checked to parse as the verifier will parse it, and to carry reportData;
// zero padding after its end is dropped.
func (a *Attester) Evidence(ctx context.Context, reportData enclave.ReportData) ([]byte, error) {
	raw, err := a.quotes.Quote(ctx, reportData)
	if err != nil {
		return nil, err
	}
	raw = dcap.TrimPadding(raw)
	q, err := parseQuote(raw)
	if err != nil {
		return nil, fmt.Errorf("tdx: quote provider returned a bad quote: %w", err)
	}
	if !bytes.Equal(q.GetTdQuoteBody().GetReportData(), reportData[:]) {
		return nil, errors.New("tdx: quote provider returned a quote for other report data")
	}
	payload := make([]byte, 0, 1+len(raw))
	payload = append(payload, payloadV1)
	payload = append(payload, raw...)
	return enclave.WrapEvidence(enclave.PlatformTDX, payload)
}

// Identity returns the identity in a quote over zero report data. With a
// configured Verifier it is the identity that Verify returns for that
// quote; without, its TCBStatus is empty.
func (a *Attester) Identity(ctx context.Context) (enclave.Identity, error) {
	var zero enclave.ReportData
	if a.verifier != nil {
		ev, err := a.Evidence(ctx, zero)
		if err != nil {
			return enclave.Identity{}, err
		}
		c, err := a.verifier.Verify(ctx, ev)
		if err != nil {
			return enclave.Identity{}, fmt.Errorf("tdx: own evidence does not verify: %w", err)
		}
		return c.Identity, nil
	}
	raw, err := a.quotes.Quote(ctx, zero)
	if err != nil {
		return enclave.Identity{}, err
	}
	q, err := parseQuote(dcap.TrimPadding(raw))
	if err != nil {
		return enclave.Identity{}, fmt.Errorf("tdx: quote provider returned a bad quote: %w", err)
	}
	if !bytes.Equal(q.GetTdQuoteBody().GetReportData(), zero[:]) {
		return enclave.Identity{}, errors.New("tdx: quote provider returned a quote for other report data")
	}
	return claimsOf(q, "").Identity, nil
}
