package enclave_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/confide/confide/enclave"
)

func TestReportData(t *testing.T) {
	rd, err := enclave.NewReportData([]byte{1, 2, 3}, []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	if !rd.HasNonce([]byte{1, 2, 3}) || rd.HasNonce([]byte{1, 2, 4}) || rd.HasNonce([]byte{1, 2}) {
		t.Error("HasNonce")
	}
	if !rd.Binds([]byte("key")) || rd.Binds([]byte("other")) {
		t.Error("Binds")
	}
	if !bytes.Equal(rd.Nonce()[3:], make([]byte, 29)) {
		t.Error("nonce not zero-padded")
	}
	if _, err := enclave.NewReportData(make([]byte, 33), nil); !errors.Is(err, enclave.ErrNonceTooLong) {
		t.Errorf("33-byte nonce: %v", err)
	}
	empty, _ := enclave.NewReportData(nil, nil)
	if !empty.HasNonce(nil) || !empty.Binds(nil) || !empty.Binds([]byte{}) {
		t.Error("empty report data")
	}
}

func TestEnvelope(t *testing.T) {
	for _, p := range []string{"sim", "sgx", "snp", "tdx"} {
		ev, err := enclave.WrapEvidence(p, []byte("payload"))
		if err != nil {
			t.Fatal(err)
		}
		got, payload, err := enclave.UnwrapEvidence(ev)
		if err != nil || got != p || string(payload) != "payload" {
			t.Errorf("%s: %q %q %v", p, got, payload, err)
		}
	}
	if _, err := enclave.WrapEvidence("tpm", nil); err == nil {
		t.Error("unknown platform wrapped")
	}
	good, _ := enclave.WrapEvidence("sim", []byte("x"))
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x40
		if p, pl, err := enclave.UnwrapEvidence(bad); err == nil && i < 10 {
			t.Errorf("header byte %d flipped: accepted as %q %q", i, p, pl)
		}
	}
	if _, _, err := enclave.UnwrapEvidence(append(good, 0)); !errors.Is(err, enclave.ErrMalformedEvidence) {
		t.Error("trailing byte accepted")
	}
}

func TestManifest(t *testing.T) {
	m := enclave.Manifest{Version: 1, Role: "kms", Entry: []string{"kms", "serve"}, Settings: map[string]string{"b": "2", "a": "1"}}
	got, err := enclave.ParseManifest(m.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.ConfigID(), m.ConfigID()) {
		t.Error("config ID changed in round trip")
	}
	if bytes.Equal(m.ConfigID(), enclave.CLIManifest.ConfigID()) {
		t.Error("kms and cli share a config ID")
	}
	for name, in := range map[string]string{
		"not canonical":   `{"version":1, "role":"kms","entry":["kms"]}`,
		"unknown field":   `{"version":1,"role":"kms","entry":["kms"],"x":1}`,
		"version":         `{"version":2,"role":"kms","entry":["kms"]}`,
		"bad role":        `{"version":1,"role":"KMS!","entry":["kms"]}`,
		"no entry":        `{"version":1,"role":"kms","entry":[]}`,
		"trailing":        `{"version":1,"role":"kms","entry":["kms"]}{}`,
		"not json":        `version 1`,
		"duplicate field": `{"version":1,"role":"kms","role":"cli","entry":["kms"]}`,
	} {
		if _, err := enclave.ParseManifest([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestClaimsJSON(t *testing.T) {
	c := enclave.Claims{Identity: enclave.Identity{Platform: "sim", UniqueID: bytes.Repeat([]byte{1}, 32), ConfigID: bytes.Repeat([]byte{2}, 32),
		SignerID: make([]byte, 32), ProductID: 7, SVN: 3, Debug: true, TCBStatus: enclave.TCBUpToDate}}
	c.ReportData[0] = 9
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	json.Unmarshal(b, &keys)
	for _, k := range []string{"platform", "unique_id", "config_id", "signer_id", "product_id", "svn", "debug", "tcb_status", "report_data"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("claims JSON lacks %q", k)
		}
	}
	if len(keys) != 9 {
		t.Errorf("claims JSON has %d keys: %s", len(keys), b)
	}
	var back enclave.Claims
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Identity.Equal(c.Identity) || back.ReportData != c.ReportData {
		t.Errorf("round trip: %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"platform":"sim","extra":1}`), &back); err == nil {
		t.Error("unknown claim accepted")
	}
	// Extra claims ("x-…") travel after the common ones, in name order,
	// and come back; others are refused.
	c.Extra = map[string]any{"x-sgx-tcb-evaluation-data-number": 17.0, "x-sgx-advisory-INTEL-SA-00615": true, "x-note": "n"}
	b, err = json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"report_data":"` + hex.EncodeToString(c.ReportData[:]) + `","x-note":"n","x-sgx-advisory-INTEL-SA-00615":true,"x-sgx-tcb-evaluation-data-number":17}`; !strings.HasSuffix(string(b), want) {
		t.Fatalf("claims JSON %s", b)
	}
	back = enclave.Claims{}
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back.Extra, c.Extra) {
		t.Fatalf("round trip of extras: %v, %v", back.Extra, err)
	}
	if m := back.Map(); m["x-sgx-advisory-INTEL-SA-00615"] != true || m["x-sgx-tcb-evaluation-data-number"] != 17.0 {
		t.Fatalf("Map: %v", m)
	}
	for _, bad := range []map[string]any{{"tcb": 1.0}, {"x-a b": true}, {"x-obj": map[string]any{}}, {"x-" + strings.Repeat("a", 95): true}} {
		c.Extra = bad
		if _, err := json.Marshal(c); err == nil {
			t.Errorf("extra claims %v written", bad)
		}
	}
	for _, bad := range []string{`"x-obj":{}`, `"x-list":[1]`, `"x y":1`, `"x-null":null`} {
		j := strings.TrimSuffix(string(b), "}") + "," + bad + "}"
		if err := json.Unmarshal([]byte(j), &back); err == nil {
			t.Errorf("claims with %s accepted", bad)
		}
	}
}

func FuzzUnwrapEvidence(f *testing.F) {
	good, _ := enclave.WrapEvidence("snp", []byte("report"))
	f.Add(good)
	f.Add([]byte("CFEV"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, payload, err := enclave.UnwrapEvidence(b)
		if err != nil {
			return
		}
		again, err := enclave.WrapEvidence(p, payload)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip: %x -> %x (%v)", b, again, err)
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	f.Add(enclave.CLIManifest.Marshal())
	f.Add([]byte(`{"version":1,"role":"kms","entry":["kms","serve"],"settings":{"a":"b"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := enclave.ParseManifest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Marshal(), b) {
			t.Fatalf("accepted non-canonical %q", b)
		}
	})
}

func FuzzClaimsJSON(f *testing.F) {
	c := enclave.Claims{Identity: enclave.Identity{Platform: "sim", UniqueID: []byte{1}, TCBStatus: "UpToDate"}}
	b, _ := json.Marshal(c)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var c enclave.Claims
		if json.Unmarshal(b, &c) != nil {
			return
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back enclave.Claims
		if err := json.Unmarshal(out, &back); err != nil || !back.Identity.Equal(c.Identity) || back.ReportData != c.ReportData {
			t.Fatalf("round trip of %s: %v", out, err)
		}
	})
}
