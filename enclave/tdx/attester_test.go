package tdx

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/confide/confide/enclave"
	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/faketsm"
	"github.com/google/go-tdx-guest/abi"
	pb "github.com/google/go-tdx-guest/proto/tdx"
)

// fakeTSM is a configfs-tsm report subsystem (go-configfs-tsm's faketsm)
// whose provider answers with quote(inblob). A fake cannot sign: the
// quotes it returns are the captured quote with REPORTDATA overwritten, so
// they parse but do not verify.
func fakeTSM(provider string, quote func(inblob []byte) []byte) configfsi.Client {
	r := faketsm.ReportV7(0)
	base := r.ReadAttr
	r.ReadAttr = func(e *faketsm.ReportEntry, attr string) ([]byte, error) {
		switch attr {
		case "provider":
			return []byte(provider + "\n"), nil
		case "outblob":
			return quote(e.InAttrs["inblob"].Value), nil
		}
		return base(e, attr)
	}
	return &faketsm.Client{Subsystems: map[string]configfsi.Client{"report": r}}
}

// forgedQuote is the captured quote carrying reportData: what a TDX guest
// on the captured platform would get, but with a signature that no longer
// matches.
func forgedQuote(t testing.TB, reportData []byte) []byte {
	q := capturedQuote(t)
	copy(q[quoteHeaderLen+bodyReportData:quoteHeaderLen+bodyReportData+64], reportData)
	return q
}

func TestAttesterEvidence(t *testing.T) {
	a := NewAttester(AttesterConfig{Quotes: ConfigFS{Client: fakeTSM(tsmProvider, func(in []byte) []byte { return forgedQuote(t, in) })}})
	rd, err := enclave.NewReportData([]byte("verifier nonce"), []byte("runtime data"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := a.Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}

	platform, payload, err := enclave.UnwrapEvidence(ev)
	if err != nil || platform != enclave.PlatformTDX || payload[0] != payloadV1 {
		t.Fatalf("evidence envelope: platform %q, err %v", platform, err)
	}
	if !bytes.Equal(payload[1:], forgedQuote(t, rd[:])) {
		t.Fatal("payload is not version byte || quote")
	}
	anyQuote, err := abi.QuoteToProto(payload[1:])
	if err != nil {
		t.Fatal(err)
	}
	if got := anyQuote.(*pb.QuoteV4).GetTdQuoteBody().GetReportData(); !bytes.Equal(got, rd[:]) {
		t.Fatalf("REPORTDATA = %x; want %x", got, rd)
	}

	// The fake's quote is not signed for this report data, and the
	// verifier must say so.
	v := newTestVerifier(t, testConfig(t))
	if _, err := v.Verify(context.Background(), ev); !errors.Is(err, ErrInvalidQuote) {
		t.Fatalf("Verify of a fake quote = %v; want ErrInvalidQuote", err)
	}
}

func TestAttesterIdentity(t *testing.T) {
	var seen []byte
	quotes := ConfigFS{Client: fakeTSM(tsmProvider, func(in []byte) []byte {
		seen = bytes.Clone(in)
		return forgedQuote(t, in)
	})}
	a := NewAttester(AttesterConfig{Quotes: quotes})
	id, err := a.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(seen, make([]byte, 64)) {
		t.Fatalf("Identity asked for report data %x; want zeros", seen)
	}
	want, err := newTestVerifier(t, testConfig(t)).Verify(context.Background(), capturedEvidence(t))
	if err != nil {
		t.Fatal(err)
	}
	want.TCBStatus = ""
	if !id.Equal(want.Identity) {
		t.Fatalf("Identity = %+v; want %+v", id, want.Identity)
	}
	if _, ok := any(a).(enclave.SealKeyer); ok {
		t.Fatal("the TDX attester must not offer sealing keys")
	}

	// With a verifier, Identity is what the verifier says of the TD's own
	// evidence: here a stub standing in for Intel's collateral, and the
	// real verifier, which rejects the fake's quote.
	stub := verifierFunc(func(_ context.Context, ev []byte) (enclave.Claims, error) {
		_, payload, err := enclave.UnwrapEvidence(ev)
		if err != nil {
			return enclave.Claims{}, err
		}
		q, _, err := parsePayload(payload)
		if err != nil {
			return enclave.Claims{}, err
		}
		return claimsOf(q, enclave.TCBOutOfDate), nil
	})
	id, err = NewAttester(AttesterConfig{Quotes: quotes, Verifier: stub}).Identity(context.Background())
	if err != nil || id.TCBStatus != enclave.TCBOutOfDate || !bytes.Equal(id.UniqueID, want.UniqueID) {
		t.Fatalf("Identity with a verifier = %+v, %v", id, err)
	}
	intel := newTestVerifier(t, testConfig(t))
	if _, err := NewAttester(AttesterConfig{Quotes: quotes, Verifier: intel}).Identity(context.Background()); !errors.Is(err, ErrInvalidQuote) {
		t.Fatalf("Identity verified by the real verifier = %v; want ErrInvalidQuote", err)
	}
}

type verifierFunc func(context.Context, []byte) (enclave.Claims, error)

func (f verifierFunc) Verify(ctx context.Context, ev []byte) (enclave.Claims, error) {
	return f(ctx, ev)
}

func TestAttesterRejects(t *testing.T) {
	good := func(in []byte) []byte { return forgedQuote(t, in) }
	tests := map[string]QuoteProvider{
		"SNP provider": ConfigFS{Client: fakeTSM("sev_guest", good)},
		"other report data": ConfigFS{Client: fakeTSM(tsmProvider, func([]byte) []byte {
			return forgedQuote(t, bytes.Repeat([]byte{7}, 64))
		})},
		"not a quote": ConfigFS{Client: fakeTSM(tsmProvider, func(in []byte) []byte { return in })},
		"trailing garbage": ConfigFS{Client: fakeTSM(tsmProvider, func(in []byte) []byte {
			return append(forgedQuote(t, in), 1)
		})},
		"faketsm's own provider": ConfigFS{Client: &faketsm.Client{Subsystems: map[string]configfsi.Client{"report": faketsm.ReportV7(0)}}},
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			a := NewAttester(AttesterConfig{Quotes: p})
			if ev, err := a.Evidence(context.Background(), enclave.ReportData{1}); err == nil {
				t.Fatalf("Evidence = %d bytes; want an error", len(ev))
			}
			if id, err := a.Identity(context.Background()); err == nil {
				t.Fatalf("Identity = %+v; want an error", id)
			}
		})
	}
}

// TestAttesterZeroPadding: a quote in a zero-padded buffer yields the same
// evidence as the bare quote.
func TestAttesterZeroPadding(t *testing.T) {
	rd := enclave.ReportData{1, 2, 3}
	bare := NewAttester(AttesterConfig{Quotes: ConfigFS{Client: fakeTSM(tsmProvider, func(in []byte) []byte { return forgedQuote(t, in) })}})
	padded := NewAttester(AttesterConfig{Quotes: ConfigFS{Client: fakeTSM(tsmProvider, func(in []byte) []byte {
		return append(forgedQuote(t, in), make([]byte, 4096)...)
	})}})
	a, err := bare.Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	b, err := padded.Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("padding changed the evidence")
	}
}

// TestConfigFSWithoutTDX: off TDX hardware the real configfs is absent and
// the default attester fails cleanly.
func TestConfigFSWithoutTDX(t *testing.T) {
	if _, err := os.Stat(configfsi.TsmPrefix + "/report"); err == nil {
		t.Skip("configfs-tsm is present; not touching real hardware in tests")
	}
	if _, err := NewAttester(AttesterConfig{}).Evidence(context.Background(), enclave.ReportData{}); err == nil {
		t.Fatal("Evidence without configfs-tsm succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (ConfigFS{}).Quote(ctx, enclave.ReportData{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Quote with a cancelled context = %v", err)
	}
}
