package spec_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
	"github.com/confide/confide/enclave/sim/simtest"
)

// platformWithSecret serves a fresh platform whose sealing secret is
// secret.
func platformWithSecret(t *testing.T, secret []byte) *simtest.Platform {
	t.Helper()
	dir, err := os.MkdirTemp("", "cfspec")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if _, err := sim.Init(dir, sim.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "seal.key"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := sim.Load(dir, sim.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return simtest.Serve(t, dir, keys)
}

// platformResponse is a response frame of sim-platform.md, read strictly.
type platformResponse struct {
	V        int    `json:"v"`
	Error    string `json:"error"`
	Code     string `json:"code"`
	Evidence []byte `json:"evidence"`
	Key      []byte `json:"key"`
	Identity *struct {
		UniqueID  []byte `json:"unique_id"`
		ConfigID  []byte `json:"config_id"`
		SignerID  []byte `json:"signer_id"`
		ProductID uint16 `json:"product_id"`
		SVN       uint16 `json:"svn"`
		Debug     bool   `json:"debug"`
		TCBStatus string `json:"tcb_status"`
	} `json:"identity"`
}

func writeRawFrame(t *testing.T, c net.Conn, text string) {
	t.Helper()
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(text)))
	if _, err := c.Write(append(frame, text...)); err != nil {
		t.Fatal(err)
	}
}

func rawRoundTrip(t *testing.T, c net.Conn, text string) platformResponse {
	t.Helper()
	writeRawFrame(t, c, text)
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > 65536 {
		t.Fatalf("response frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	var r platformResponse
	if err := strictJSON(body, &r); err != nil {
		t.Fatalf("response %s: %v", body, err)
	}
	present := 0
	for _, p := range []bool{r.Error != "", r.Evidence != nil, r.Key != nil, r.Identity != nil} {
		if p {
			present++
		}
	}
	if r.V != 1 {
		t.Fatalf("response %s: protocol version %d, want 1", body, r.V)
	}
	if present != 1 || (r.Code != "" && r.Error == "") {
		t.Fatalf("response %s: exactly one of error, evidence, key, identity", body)
	}
	return r
}

func dialPlatform(t *testing.T, p *simtest.Platform) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", filepath.Join(p.Dir, sim.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

func selfExeHash(t *testing.T) []byte {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return h[:]
}

// TestSimPlatformProtocol speaks sim-platform.md's frames to a live
// platform and checks each answer against the document: the identity it
// measured, evidence that the reference verifier accepts, and sealing keys
// equal to the reference derivation.
func TestSimPlatformProtocol(t *testing.T) {
	var file struct {
		fileHeader
		Vectors []simSealKeyVector `json:"vectors"`
	}
	b, err := os.ReadFile("testdata/sim-seal-key.json")
	if err != nil {
		t.Fatal(err)
	}
	decodeStrict(t, b, &file)
	secret := file.Vectors[0].SealSecret
	p := platformWithSecret(t, secret)
	c := dialPlatform(t, p)

	want := enclave.Identity{Platform: enclave.PlatformSim, UniqueID: selfExeHash(t), ConfigID: enclave.CLIManifest.ConfigID(),
		SignerID: make([]byte, 32), Debug: true, TCBStatus: enclave.TCBUpToDate}
	r := rawRoundTrip(t, c, `{"v":1,"op":"identity"}`)
	j := r.Identity
	got := enclave.Identity{Platform: enclave.PlatformSim, UniqueID: j.UniqueID, ConfigID: j.ConfigID, SignerID: j.SignerID,
		ProductID: j.ProductID, SVN: j.SVN, Debug: j.Debug, TCBStatus: j.TCBStatus}
	if !got.Equal(want) {
		t.Fatalf("identity %+v, want %+v", got, want)
	}
	if id, err := p.Client.Identity(ctx); err != nil || !id.Equal(want) {
		t.Fatalf("Client.Identity = %+v, %v", id, err)
	}

	var rd enclave.ReportData
	for i := range rd {
		rd[i] = byte(i)
	}
	rdJSON, _ := json.Marshal(rd[:])
	r = rawRoundTrip(t, c, `{"v":1,"op":"evidence","report_data":`+string(rdJSON)+`}`)
	claims, class := refVerifySim(r.Evidence, p.Roots(), time.Now())
	if class != "" || !claims.Equal(want) || claims.ReportData != rd {
		t.Fatalf("evidence: %s, claims %+v", class, claims)
	}

	keyID := bytes.Repeat([]byte{0x42}, 32)
	kid, _ := json.Marshal(keyID)
	for _, c2 := range []struct {
		req    string
		policy uint8
		svn    uint16
	}{
		{`{"v":1,"op":"sealkey","policy":1,"key_id":` + string(kid) + `}`, 1, 0},
		{`{"v":1,"op":"sealkey","policy":1,"svn":5,"key_id":` + string(kid) + `}`, 1, 5},
		{`{"v":1,"op":"sealkey","policy":2,"key_id":` + string(kid) + `}`, 2, 0},
		{`{"v":1,"op":"sealkey","policy":2,"svn":0,"key_id":` + string(kid) + `}`, 2, 0},
	} {
		r := rawRoundTrip(t, c, c2.req)
		ref, _ := refSimSealKey(t, secret, want, c2.policy, c2.svn, keyID)
		if !bytes.Equal(r.Key, ref) {
			t.Errorf("%s: key %x, reference %x", c2.req, r.Key, ref)
		}
		var k [32]byte
		copy(k[:], keyID)
		ck, err := p.Client.SealKey(ctx, enclave.KeyRequest{Policy: enclave.SealPolicy(c2.policy), SVN: c2.svn, KeyID: k})
		if err != nil || !bytes.Equal(ck, ref) {
			t.Errorf("Client.SealKey(%d, %d) = %x, %v", c2.policy, c2.svn, ck, err)
		}
	}

	for _, e := range []struct{ req, code string }{
		{`{"v":1,"op":"sealkey","policy":2,"svn":1,"key_id":` + string(kid) + `}`, "svn_too_high"},
		{`{"v":1,"op":"sealkey","policy":3,"key_id":` + string(kid) + `}`, ""},
		{`{"v":1,"op":"sealkey","key_id":` + string(kid) + `}`, ""},
		{`{"v":1,"op":"sealkey","policy":1,"key_id":"` + strings.Repeat("A", 40) + `"}`, ""}, // 30 bytes
		{`{"v":1,"op":"sealkey","policy":1}`, ""},
		{`{"v":1,"op":"evidence","report_data":"` + strings.Repeat("A", 84) + `"}`, ""}, // 63 bytes
		{`{"v":1,"op":"evidence"}`, ""},
		{`{"v":1,"op":"attest"}`, ""},
		{`{"op":"identity"}`, ""},       // no version
		{`{"v":2,"op":"identity"}`, ""}, // a newer protocol
		{`{}`, ""},
	} {
		r := rawRoundTrip(t, c, e.req)
		if r.Error == "" || r.Code != e.code {
			t.Errorf("%s: error %q, code %q; want code %q", e.req, r.Error, r.Code, e.code)
		}
	}
	var k [32]byte
	if _, err := p.Client.SealKey(ctx, enclave.KeyRequest{Policy: enclave.SealProduct, SVN: 1, KeyID: k}); !errors.Is(err, enclave.ErrSVNTooHigh) {
		t.Errorf("Client.SealKey above own SVN: %v", err)
	}

	// A frame of exactly 65536 bytes is read; one byte more ends the
	// connection, as does a frame that is not JSON.
	req := `{"v":1,"op":"identity"}`
	rawRoundTrip(t, c, req+strings.Repeat(" ", 65536-len(req)))
	for _, bad := range []func(net.Conn){
		func(c net.Conn) { c.Write(binary.BigEndian.AppendUint32(nil, 65537)) },
		func(c net.Conn) { writeRawFrame(t, c, `{"v":1,"op":`) },
		func(c net.Conn) { writeRawFrame(t, c, `{"v":1,"op":"identity"} {}`) },
		func(c net.Conn) { writeRawFrame(t, c, `{"v":1,"op":"sealkey","policy":256}`) },
		func(c net.Conn) { writeRawFrame(t, c, `{"v":1,"op":"identity","extra":true}`) },
	} {
		c := dialPlatform(t, p)
		bad(c)
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("connection not closed: read %d, %v", n, err)
		}
	}
}

// TestSimIdentityDerivation launches this test binary with enclave images
// and checks the identity the platform grants against enclave-image.md.
func TestSimIdentityDerivation(t *testing.T) {
	p := simtest.Start(t)
	exe := selfExeHash(t)
	dir := t.TempDir()
	write := func(name string, im *sim.Image) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, im.Marshal(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	signed, err := sim.SignImage(vectorSigner(), exe, kmsManifest(), 7, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	forOther, err := sim.SignImage(vectorSigner(), vectorExe(), kmsManifest(), 7, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		image *sim.Image // nil: launched without one
		path  string     // as given in CONFIDE_ENCLAVE
		cwd   string
	}{
		{"no image", nil, "", ""},
		{"empty CONFIDE_ENCLAVE", nil, "-", ""},
		{"signed, absolute path", signed, write("signed.json", signed), ""},
		{"unsigned, relative path", sim.UnsignedImage(kmsManifest()), "unsigned.json", dir},
		{"signed for another executable", forOther, write("other.json", forOther), ""},
	}
	write("unsigned.json", sim.UnsignedImage(kmsManifest()))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := []string{"SPEC_SIM_DIR=" + p.Dir}
			switch c.path {
			case "":
			case "-":
				env = append(env, sim.EnvEnclave+"=")
			default:
				env = append(env, sim.EnvEnclave+"="+c.path)
			}
			cmd := selfCommand("identity", env...)
			cmd.Dir = c.cwd
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			im := c.image
			if im == nil {
				im = sim.UnsignedImage(enclave.CLIManifest.Marshal())
			}
			ref := refImage{Version: 1, Manifest: im.Manifest, UniqueID: im.UniqueID, ProductID: im.ProductID, SVN: im.SVN,
				Debug: im.Debug, Signer: im.Signer, Signature: im.Signature}
			want, ok := refIdentity(ref, exe)
			if !ok {
				if err == nil || !strings.Contains(stderr.String(), "another executable") {
					t.Fatalf("platform granted %s (%v)", out, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %s", err, stderr.String())
			}
			var got identityHex
			if err := strictJSON(out, &got); err != nil {
				t.Fatal(err)
			}
			if !toIdentityHexEq(got, want) {
				t.Fatalf("identity %+v, want %+v", got, want)
			}
		})
	}
}
