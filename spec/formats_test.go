package spec_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
	"github.com/confide/confide/seal"
)

var ctx = context.Background()

// ---- reportdata.md

func runReportData(t *testing.T, b []byte) int {
	var f struct {
		fileHeader
		Vectors []struct {
			Name        string   `json:"name"`
			Nonce       hexBytes `json:"nonce"`
			RuntimeData hexBytes `json:"runtime_data"`
			ReportData  hexBytes `json:"report_data"`
			Reject      string   `json:"reject"`
		} `json:"vectors"`
	}
	decodeStrict(t, b, &f)
	f.check(t)
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			oneOf(t, "report_data and reject", v.ReportData != nil, v.Reject != "")
			got, err := enclave.NewReportData(v.Nonce, v.RuntimeData)
			if v.Reject != "" {
				if !errors.Is(err, enclave.ErrNonceTooLong) {
					t.Fatalf("NewReportData: got %v, want ErrNonceTooLong", err)
				}
				if got.HasNonce(v.Nonce) || (enclave.ReportData{}).HasNonce(v.Nonce) {
					t.Error("an over-long nonce matched")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// From the document alone.
			var ref [64]byte
			copy(ref[:32], v.Nonce)
			h := sha256.Sum256(v.RuntimeData)
			copy(ref[32:], h[:])
			if !bytes.Equal(ref[:], v.ReportData) {
				t.Fatalf("reference layout %x, vector %x", ref, v.ReportData)
			}
			if !bytes.Equal(got[:], v.ReportData) {
				t.Fatalf("NewReportData %x, want %x", got, v.ReportData)
			}
			if !bytes.Equal(got.Nonce(), ref[:32]) {
				t.Errorf("Nonce() = %x", got.Nonce())
			}
			if !got.HasNonce(v.Nonce) || !got.Binds(v.RuntimeData) {
				t.Error("HasNonce or Binds rejects the vector's own values")
			}
			if got.HasNonce(append(bytes.Clone(v.Nonce), 1)) && len(v.Nonce) < 32 {
				t.Error("HasNonce accepts a longer nonce")
			}
			if got.HasNonce(make([]byte, 33)) {
				t.Error("HasNonce accepts a 33-byte nonce")
			}
			if got.Binds(append(bytes.Clone(v.RuntimeData), 0)) {
				t.Error("Binds accepts other runtime data")
			}
		})
	}
	return len(f.Vectors)
}

// ---- evidence.md: envelope

type stubBackend struct {
	platform string
	called   *int
}

func (s stubBackend) Verify(ctx context.Context, ev []byte) (enclave.Claims, error) {
	*s.called++
	return enclave.Claims{Identity: enclave.Identity{Platform: s.platform}}, nil
}

func runEnvelope(t *testing.T, b []byte) int {
	var f struct {
		fileHeader
		Vectors []struct {
			Name     string   `json:"name"`
			Evidence hexBytes `json:"evidence"`
			Platform string   `json:"platform"`
			Payload  hexBytes `json:"payload"`
			Reject   string   `json:"reject"`
		} `json:"vectors"`
	}
	decodeStrict(t, b, &f)
	f.check(t)
	called := 0
	v := &attest.Verifier{Backends: map[string]enclave.Verifier{}}
	for _, p := range []string{enclave.PlatformSim, enclave.PlatformSGX, enclave.PlatformSNP, enclave.PlatformTDX} {
		v.Backends[p] = stubBackend{p, &called}
	}
	for _, vec := range f.Vectors {
		t.Run(vec.Name, func(t *testing.T) {
			oneOf(t, "platform and reject", vec.Platform != "", vec.Reject != "")
			called = 0
			platform, payload, err := enclave.UnwrapEvidence(vec.Evidence)
			c, verr := v.Verify(ctx, vec.Evidence, attest.Expect{})
			if vec.Reject != "" {
				if !errors.Is(err, enclave.ErrMalformedEvidence) || !errors.Is(verr, enclave.ErrMalformedEvidence) {
					t.Fatalf("UnwrapEvidence: %v; attest.Verifier: %v; want ErrMalformedEvidence", err, verr)
				}
				if called != 0 {
					t.Error("malformed evidence reached a backend")
				}
				return
			}
			if err != nil || verr != nil {
				t.Fatalf("UnwrapEvidence: %v; attest.Verifier: %v", err, verr)
			}
			if platform != vec.Platform || !bytes.Equal(payload, vec.Payload) {
				t.Fatalf("unwrapped %q %x, want %q %x", platform, payload, vec.Platform, vec.Payload)
			}
			again, err := enclave.WrapEvidence(platform, payload)
			if err != nil || !bytes.Equal(again, vec.Evidence) {
				t.Fatalf("WrapEvidence = %x, %v", again, err)
			}
			if c.Platform != vec.Platform || called != 1 {
				t.Errorf("dispatched to %q (%d calls)", c.Platform, called)
			}
		})
	}
	// The size bound, too large for a literal vector.
	for _, c := range []struct {
		size int
		ok   bool
	}{{enclave.MaxEvidence, true}, {enclave.MaxEvidence + 1, false}} {
		ev := make([]byte, c.size)
		copy(ev, "CFEV\x01\x01")
		binary.BigEndian.PutUint32(ev[6:], uint32(c.size-10))
		if _, _, err := enclave.UnwrapEvidence(ev); (err == nil) != c.ok {
			t.Errorf("%d-byte envelope: %v", c.size, err)
		}
		if _, err := enclave.WrapEvidence(enclave.PlatformSim, ev[10:]); (err == nil) != c.ok {
			t.Errorf("wrapping a %d-byte payload: %v", c.size-10, err)
		}
	}
	if _, err := enclave.WrapEvidence("sev", nil); err == nil {
		t.Error("WrapEvidence accepted an unknown platform")
	}
	// A backend whose claims name another platform is not believed.
	liar := &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: stubBackend{enclave.PlatformSNP, &called}}}
	if _, err := liar.Verify(ctx, []byte("CFEV\x01\x01\x00\x00\x00\x00"), attest.Expect{}); err == nil {
		t.Error("attest.Verifier accepted claims for another platform than the tag's")
	}
	return len(f.Vectors)
}

// ---- evidence.md: claims JSON

func runClaimsJSON(t *testing.T, b []byte) int {
	var f struct {
		fileHeader
		Vectors []struct {
			Name   string          `json:"name"`
			JSON   string          `json:"json"`
			Map    json.RawMessage `json:"map"`
			Reject string          `json:"reject"`
		} `json:"vectors"`
	}
	decodeStrict(t, b, &f)
	f.check(t)
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			oneOf(t, "map and reject", v.Map != nil, v.Reject != "")
			var direct, viaJSON enclave.Claims
			err := direct.UnmarshalJSON([]byte(v.JSON))
			uerr := json.Unmarshal([]byte(v.JSON), &viaJSON)
			if v.Reject != "" {
				if err == nil || uerr == nil {
					t.Fatalf("accepted (UnmarshalJSON: %v, json.Unmarshal: %v)", err, uerr)
				}
				return
			}
			if err != nil || uerr != nil {
				t.Fatalf("UnmarshalJSON: %v, json.Unmarshal: %v", err, uerr)
			}
			if !direct.Equal(viaJSON.Identity) || direct.ReportData != viaJSON.ReportData {
				t.Fatal("the two ways of reading differ")
			}
			printed, err := json.MarshalIndent(direct, "", "  ")
			if err != nil || string(printed) != v.JSON {
				t.Fatalf("printed\n%s\nwant\n%s", printed, v.JSON)
			}
			want := policyClaims(t, v.Map)
			if got := direct.Map(); !reflect.DeepEqual(got, want) {
				t.Errorf("Map() = %v, want %v", got, want)
			}
		})
	}
	return len(f.Vectors)
}

// policyClaims reads a JSON object of claims into the policy form: strings,
// float64 numbers and booleans only.
func policyClaims(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	for k, v := range m {
		switch x := v.(type) {
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				t.Fatal(err)
			}
			m[k] = f
		case string, bool:
		default:
			t.Fatalf("claim %q is %T: claims are strings, numbers or booleans", k, v)
		}
	}
	return m
}

// ---- sealed-blob.md

// fixedKeyPlatform answers every sealing key request with one key, and
// records the requests.
type fixedKeyPlatform struct {
	key  []byte
	svn  uint16
	reqs []enclave.KeyRequest
}

func (p *fixedKeyPlatform) Identity(context.Context) (enclave.Identity, error) {
	return enclave.Identity{SVN: p.svn}, nil
}

func (p *fixedKeyPlatform) SealKey(_ context.Context, req enclave.KeyRequest) ([]byte, error) {
	p.reqs = append(p.reqs, req)
	return bytes.Clone(p.key), nil
}

func runSealedBlob(t *testing.T, b []byte) int {
	var f struct {
		fileHeader
		Vectors []struct {
			Name      string   `json:"name"`
			Key       hexBytes `json:"key"`
			Policy    uint8    `json:"policy"`
			SVN       uint16   `json:"svn"`
			KeyID     hexBytes `json:"key_id"`
			Nonce     hexBytes `json:"nonce"`
			Plaintext hexBytes `json:"plaintext"`
			AAD       hexBytes `json:"aad"`
			Blob      hexBytes `json:"blob"`
			Reject    string   `json:"reject"`
			Error     string   `json:"error"`
		} `json:"vectors"`
	}
	decodeStrict(t, b, &f)
	f.check(t)
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			oneOf(t, "plaintext and reject", v.Plaintext != nil, v.Reject != "")
			stub := &fixedKeyPlatform{key: v.Key, svn: v.SVN}
			s, err := seal.New(stub, nil)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case v.Reject != "" && v.Error == "malformed":
				if _, err := seal.ParseHeader(v.Blob); !errors.Is(err, seal.ErrMalformed) {
					t.Errorf("ParseHeader: %v, want ErrMalformed", err)
				}
				if _, err := s.Unseal(ctx, v.Blob, v.AAD); !errors.Is(err, seal.ErrMalformed) {
					t.Errorf("Unseal: %v, want ErrMalformed", err)
				}
				if len(stub.reqs) != 0 {
					t.Error("a malformed blob made the sealer ask for a key")
				}
				return
			case v.Reject != "" && v.Error == "open":
				if _, err := seal.ParseHeader(v.Blob); err != nil {
					t.Fatalf("ParseHeader: %v", err)
				}
				if _, err := s.Unseal(ctx, v.Blob, v.AAD); !errors.Is(err, seal.ErrOpen) {
					t.Errorf("Unseal: %v, want ErrOpen", err)
				}
				if _, err := refOpen(v.Key, v.Blob, v.AAD); err == nil {
					t.Error("the reference opened it")
				}
				return
			case v.Reject != "":
				t.Fatalf("error must be malformed or open, not %q", v.Error)
			}
			// 1. From the document alone.
			hdr := append([]byte("CFSL\x01"), v.Policy)
			hdr = binary.BigEndian.AppendUint16(hdr, v.SVN)
			hdr = append(append(hdr, v.KeyID...), v.Nonce...)
			if len(hdr) != 52 {
				t.Fatalf("header is %d bytes", len(hdr))
			}
			gcm := refGCM(t, v.Key)
			ref := gcm.Seal(bytes.Clone(hdr), v.Nonce, v.Plaintext, append(bytes.Clone(hdr), v.AAD...))
			if !bytes.Equal(ref, v.Blob) {
				t.Fatalf("reference blob\n%x\nvector\n%x", ref, v.Blob)
			}
			if pt, err := refOpen(v.Key, v.Blob, v.AAD); err != nil || !bytes.Equal(pt, v.Plaintext) {
				t.Fatalf("reference open: %v", err)
			}
			// 2. ParseHeader.
			h, err := seal.ParseHeader(v.Blob)
			if err != nil {
				t.Fatal(err)
			}
			if h.Policy != enclave.SealPolicy(v.Policy) || h.SVN != v.SVN || !bytes.Equal(h.KeyID[:], v.KeyID) {
				t.Fatalf("ParseHeader = %+v", h)
			}
			// 3. The Sealer on a platform that answers with the key.
			pt, err := s.Unseal(ctx, v.Blob, v.AAD)
			if err != nil || !bytes.Equal(pt, v.Plaintext) {
				t.Fatalf("Unseal: %q, %v", pt, err)
			}
			want := enclave.KeyRequest{Policy: h.Policy, SVN: v.SVN, KeyID: h.KeyID}
			if len(stub.reqs) != 1 || stub.reqs[0] != want {
				t.Fatalf("Unseal asked for %+v, want %+v", stub.reqs, want)
			}
			rnd := bytes.NewReader(append(bytes.Clone(v.KeyID), v.Nonce...))
			s2, err := seal.New(&fixedKeyPlatform{key: v.Key, svn: v.SVN}, rnd)
			if err != nil {
				t.Fatal(err)
			}
			blob, err := s2.Seal(ctx, enclave.SealPolicy(v.Policy), v.Plaintext, v.AAD)
			if err != nil || !bytes.Equal(blob, v.Blob) {
				t.Fatalf("Seal = %x, %v", blob, err)
			}
		})
	}
	return len(f.Vectors)
}

func refGCM(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	if len(key) != 32 {
		t.Fatalf("key is %d bytes", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// refOpen opens a blob as sealed-blob.md says, checking only what the AEAD
// layer needs.
func refOpen(key, blob, aad []byte) ([]byte, error) {
	if len(blob) < 68 {
		return nil, errors.New("too short")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return g.Open(nil, blob[40:52], blob[52:], append(bytes.Clone(blob[:52]), aad...))
}

// ---- enclave-image.md: manifest

func runManifest(t *testing.T, b []byte) int {
	var f struct {
		fileHeader
		Vectors []struct {
			Name     string   `json:"name"`
			Manifest string   `json:"manifest"`
			ConfigID hexBytes `json:"config_id"`
			Reject   string   `json:"reject"`
		} `json:"vectors"`
	}
	decodeStrict(t, b, &f)
	f.check(t)
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			oneOf(t, "config_id and reject", v.ConfigID != nil, v.Reject != "")
			raw := []byte(v.Manifest)
			m, err := enclave.ParseManifest(raw)
			_, imgErr := sim.ParseImage(sim.UnsignedImage(raw).Marshal())
			if v.Reject != "" {
				if err == nil || imgErr == nil {
					t.Fatalf("accepted (ParseManifest: %v, ParseImage: %v)", err, imgErr)
				}
				return
			}
			if err != nil || imgErr != nil {
				t.Fatalf("ParseManifest: %v, ParseImage: %v", err, imgErr)
			}
			if ref := sha256.Sum256(raw); !bytes.Equal(ref[:], v.ConfigID) {
				t.Fatalf("SHA-256 %x, vector %x", ref, v.ConfigID)
			}
			if !bytes.Equal(m.Marshal(), raw) || !bytes.Equal(m.ConfigID(), v.ConfigID) {
				t.Fatalf("Marshal %s, ConfigID %x", m.Marshal(), m.ConfigID())
			}
		})
	}
	if got := hex.EncodeToString(enclave.CLIManifest.ConfigID()); got != "18a5aaabba3f8dfbdf921f6b000cdcee129d4fd88eba0b0fc29a5fbd9cd0fcc3" {
		t.Errorf("CLI manifest config ID %s differs from enclave-image.md", got)
	}
	return len(f.Vectors)
}

// ---- policy.md

func runPolicy(t *testing.T, b []byte) int {
	var f struct {
		fileHeader
		Vectors []struct {
			Name      string          `json:"name"`
			Policy    json.RawMessage `json:"policy"`
			Claims    json.RawMessage `json:"claims"`
			Authority string          `json:"authority"`
			Result    string          `json:"result"`
		} `json:"vectors"`
	}
	decodeStrict(t, b, &f)
	f.check(t)
	counts := map[string]int{}
	for _, v := range f.Vectors {
		counts[v.Result]++
		t.Run(v.Name, func(t *testing.T) {
			doc := []byte(v.Policy)
			var text string
			if json.Unmarshal(v.Policy, &text) == nil {
				doc = []byte(text) // a document that is not a JSON object
			}
			p, err := attest.ParsePolicy(doc)
			switch v.Result {
			case "invalid":
				if err == nil {
					t.Fatal("ParsePolicy accepted it")
				}
				if v.Claims != nil {
					t.Fatal("an invalid policy is evaluated against nothing")
				}
				return
			case "pass", "fail":
			default:
				t.Fatalf("result %q is not pass, fail or invalid", v.Result)
			}
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			want := v.Result == "pass"
			err = p.Evaluate(attest.Input{Claims: policyClaims(t, v.Claims), Authority: v.Authority})
			if (err == nil) != want || (err != nil && !errors.Is(err, attest.ErrPolicy)) {
				t.Fatalf("Evaluate: %v, want %s", err, v.Result)
			}
			var c enclave.Claims
			if strictJSON(v.Claims, &c) == nil && v.Authority == "" {
				if err := p.EvaluateClaims(c); (err == nil) != want {
					t.Fatalf("EvaluateClaims: %v, want %s", err, v.Result)
				}
			}
		})
	}
	if counts["pass"] < 10 || counts["fail"] < 10 || counts["invalid"] < 10 {
		t.Errorf("results %v: the file lost some", counts)
	}
	if err := (&attest.Policy{}).Evaluate(attest.Input{}); !errors.Is(err, attest.ErrPolicy) {
		t.Errorf("the zero Policy: %v", err)
	}
	return len(f.Vectors)
}

// ---- sim-platform.md: sealing keys

type identityHex struct {
	Platform  string   `json:"platform,omitempty"`
	UniqueID  hexBytes `json:"unique_id"`
	ConfigID  hexBytes `json:"config_id"`
	SignerID  hexBytes `json:"signer_id"`
	ProductID uint16   `json:"product_id"`
	SVN       uint16   `json:"svn"`
	Debug     bool     `json:"debug"`
	TCBStatus string   `json:"tcb_status"`
}

func (j identityHex) identity(platform string) enclave.Identity {
	return enclave.Identity{Platform: platform, UniqueID: j.UniqueID, ConfigID: j.ConfigID, SignerID: j.SignerID,
		ProductID: j.ProductID, SVN: j.SVN, Debug: j.Debug, TCBStatus: j.TCBStatus}
}

func toIdentityHex(id enclave.Identity) identityHex {
	return identityHex{Platform: id.Platform, UniqueID: id.UniqueID, ConfigID: id.ConfigID, SignerID: id.SignerID,
		ProductID: id.ProductID, SVN: id.SVN, Debug: id.Debug, TCBStatus: id.TCBStatus}
}

// refSimSealInfo is the HKDF info of sim-platform.md; ok is false for
// requests the platform refuses.
func refSimSealInfo(id enclave.Identity, policy uint8, svn uint16) (info []byte, ok bool) {
	info = append([]byte("confide sim seal v1\x00"), policy)
	if id.Debug {
		info = append(info, 1)
	} else {
		info = append(info, 0)
	}
	switch policy {
	case 1:
		info = append(append(info, id.UniqueID...), id.ConfigID...)
	case 2:
		if svn > id.SVN {
			return nil, false
		}
		info = binary.BigEndian.AppendUint16(append(info, id.SignerID...), id.ProductID)
		info = binary.BigEndian.AppendUint16(append(info, id.ConfigID...), svn)
	default:
		return nil, false
	}
	return info, true
}

func refSimSealKey(t *testing.T, secret []byte, id enclave.Identity, policy uint8, svn uint16, keyID []byte) ([]byte, bool) {
	t.Helper()
	info, ok := refSimSealInfo(id, policy, svn)
	if !ok {
		return nil, false
	}
	k, err := hkdf.Key(sha256.New, secret, keyID, string(info), 32)
	if err != nil {
		t.Fatal(err)
	}
	return k, true
}

type simSealKeyVector struct {
	Name       string      `json:"name"`
	SealSecret hexBytes    `json:"seal_secret"`
	Identity   identityHex `json:"identity"`
	Policy     uint8       `json:"policy"`
	SVN        uint16      `json:"svn"`
	KeyID      hexBytes    `json:"key_id"`
	Info       hexBytes    `json:"info"`
	Key        hexBytes    `json:"key"`
	Reject     string      `json:"reject"`
}

func runSimSealKey(t *testing.T, b []byte) int {
	var f struct {
		fileHeader
		Vectors []simSealKeyVector `json:"vectors"`
	}
	decodeStrict(t, b, &f)
	f.check(t)
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			oneOf(t, "key and reject", v.Key != nil, v.Reject != "")
			id := v.Identity.identity(enclave.PlatformSim)
			info, ok := refSimSealInfo(id, v.Policy, v.SVN)
			if v.Reject != "" {
				if ok {
					t.Fatal("the reference derives a key")
				}
				return
			}
			if !ok || !bytes.Equal(info, v.Info) {
				t.Fatalf("info %x, want %x", info, v.Info)
			}
			if k, _ := refSimSealKey(t, v.SealSecret, id, v.Policy, v.SVN, v.KeyID); !bytes.Equal(k, v.Key) {
				t.Fatalf("key %x, want %x", k, v.Key)
			}
		})
	}
	return len(f.Vectors)
}
