package dcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tdx-guest/testing/testdata"
)

// Intel's real CRLs, as go-tdx-guest ships them (valid on 2023-07-01),
// pass the revocation checks for the real PCK chain of its production
// TDX quote; a CRL from the wrong issuer, or after its next update, does
// not.
func TestIntelCRLs(t *testing.T) {
	raw := testdata.RawQuote
	raw = raw[:0x27C+int(binary.LittleEndian.Uint32(raw[0x278:]))]
	q, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2023, time.July, 1, 1, 0, 0, 0, time.UTC)
	v := NewVerifier(Options{})
	chain, err := v.chain(q.PCKChain, at, cnPCK)
	if err != nil {
		t.Fatal(err)
	}
	col := &Collateral{PCKCRL: testdata.PckCrlBody, RootCRL: testdata.RootCrlBody}
	exp, err := v.checkRevocation(col, chain, at)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Intel's CRLs valid until %s", exp.Format(time.RFC3339))
	swapped := &Collateral{PCKCRL: testdata.RootCrlBody, RootCRL: testdata.PckCrlBody}
	if _, err := v.checkRevocation(swapped, chain, at); !errors.Is(err, ErrCollateral) {
		t.Fatalf("CRLs of the wrong issuers: %v", err)
	}
	if _, err := v.checkRevocation(col, chain, exp); !errors.Is(err, ErrExpired) {
		t.Fatalf("at the CRLs' next update: %v", err)
	}
}

// Intel's own signature over a QE identity body (the TDX QE's, as PCS
// served it on 2023-06-08) verifies over the signed member's bytes as
// served, under Intel's real TCB signing chain; a changed byte inside them
// does not. (Its id is TD_QE, which the SGX reader then refuses.)
func TestIntelCollateralSignature(t *testing.T) {
	body, err := os.ReadFile("../tdx/testdata/collateral/qeidentity.json")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := os.ReadFile("../tdx/testdata/collateral/qeidentity.chain.pem")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2023, time.July, 1, 1, 0, 0, 0, time.UTC)
	signed, err := checkSigned(body, chain, "enclaveIdentity", IntelRoots(), at, cnTCBSigning)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseQEIdentity(signed); err == nil || !strings.Contains(err.Error(), "TD_QE") {
		t.Fatalf("the TDX QE's identity read as the SGX QE's: %v", err)
	}
	bad := bytes.Replace(body, []byte(`"tcbEvaluationDataNumber":15`), []byte(`"tcbEvaluationDataNumber":16`), 1)
	if _, err := checkSigned(bad, chain, "enclaveIdentity", IntelRoots(), at, cnTCBSigning); err == nil {
		t.Fatal("a changed signed member verifies")
	}
	spaced := bytes.Replace(body, []byte(`{"enclaveIdentity":`), []byte(`{ "enclaveIdentity" : `), 1)
	if _, err := checkSigned(spaced, chain, "enclaveIdentity", IntelRoots(), at, cnTCBSigning); err != nil {
		t.Fatalf("white space outside the signed member: %v", err)
	}
}
