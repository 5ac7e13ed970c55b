package sim_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/seal"
	"go.uber.org/goleak"
)

// The test binary doubles as the enclaves these tests launch: with
// SIMTEST_CHILD set it performs one operation as whatever enclave the
// platform measures it to be, and exits.
func TestMain(m *testing.M) {
	if op := os.Getenv("SIMTEST_CHILD"); op != "" {
		if err := child(op); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func child(op string) error {
	ctx := context.Background()
	c, err := sim.Dial(ctx, os.Getenv("SIMTEST_DIR"), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := seal.New(c, nil)
	if err != nil {
		return err
	}
	in, _ := io.ReadAll(os.Stdin)
	var out []byte
	switch op {
	case "seal-unique", "seal-product":
		pol := enclave.SealUnique
		if op == "seal-product" {
			pol = enclave.SealProduct
		}
		out, err = s.Seal(ctx, pol, in, nil)
	case "unseal":
		out, err = s.Unseal(ctx, in, nil)
	case "evidence":
		var rd enclave.ReportData
		copy(rd[:], in)
		out, err = c.Evidence(ctx, rd)
	}
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}

type launcher struct {
	t   *testing.T
	p   *simtest.Platform
	exe []byte // SHA-256 of the test binary
}

func newLauncher(t *testing.T) *launcher {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return &launcher{t: t, p: simtest.Start(t), exe: h[:]}
}

func manifest(role string) []byte {
	return enclave.Manifest{Version: 1, Role: role, Entry: []string{role, "serve"}}.Marshal()
}

// image writes an enclave image file and returns its path.
func (l *launcher) image(im *sim.Image) string {
	path := filepath.Join(l.t.TempDir(), "enclave.json")
	if err := os.WriteFile(path, im.Marshal(), 0o600); err != nil {
		l.t.Fatal(err)
	}
	return path
}

func (l *launcher) signed(key ed25519.PrivateKey, role string, product, svn uint16) string {
	im, err := sim.SignImage(key, l.exe, manifest(role), product, svn, false)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.image(im)
}

// run launches the test binary as the enclave of image (none: the CLI).
func (l *launcher) run(image, op string, stdin []byte) ([]byte, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SIMTEST_CHILD="+op, "SIMTEST_DIR="+l.p.Dir)
	if image != "" {
		cmd.Env = append(cmd.Env, sim.EnvEnclave+"="+image)
	}
	cmd.Stdin = strings.NewReader(string(stdin))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, stderr.String())
	}
	return out, nil
}

func (l *launcher) mustRun(image, op string, stdin []byte) []byte {
	l.t.Helper()
	out, err := l.run(image, op, stdin)
	if err != nil {
		l.t.Fatalf("%s: %v", op, err)
	}
	return out
}

// One service's enclave cannot unseal another's data, though all are the
// same executable: the manifest it was launched with makes it another
// enclave.
func TestServicesCannotUnsealEachOther(t *testing.T) {
	l := newLauncher(t)
	_, signer, _ := ed25519.GenerateKey(nil)
	kms := l.signed(signer, "kms", 1, 1)
	ledger := l.signed(signer, "ledger", 1, 1)
	kmsUnsigned := l.image(sim.UnsignedImage(manifest("kms")))
	secret := []byte("kms master key")

	for _, op := range []string{"seal-unique", "seal-product"} {
		blob := l.mustRun(kms, op, secret)
		if got := l.mustRun(kms, "unseal", blob); string(got) != string(secret) {
			t.Fatalf("%s: same enclave unsealed %q", op, got)
		}
		others := map[string]string{"ledger": ledger, "cli": ""}
		if op == "seal-product" {
			// Same code and manifest is the same enclave under the
			// unique policy; the product policy also needs the signer.
			others["unsigned kms"] = kmsUnsigned
		}
		for name, image := range others {
			if _, err := l.run(image, "unseal", blob); err == nil {
				t.Errorf("%s: %s unsealed the kms's blob", op, name)
			}
		}
	}
	// And the CLI's own data is not the services'.
	s, err := seal.New(l.p.Client, nil)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := s.Seal(context.Background(), enclave.SealUnique, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.mustRun("", "unseal", blob); string(got) != string(secret) {
		t.Fatal("the CLI could not unseal its own blob in another process")
	}
	if _, err := l.run(kms, "unseal", blob); err == nil {
		t.Error("kms unsealed the CLI's blob")
	}
}

// Under the product policy an upgrade (higher SVN, same signer, product
// and config) unseals older data; a downgrade, another product or another
// signer does not.
func TestProductSealingAcrossVersions(t *testing.T) {
	l := newLauncher(t)
	_, signer, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	blob := l.mustRun(l.signed(signer, "sql", 7, 2), "seal-product", []byte("state"))
	cases := []struct {
		name  string
		image string
		ok    bool
	}{
		{"same version", l.signed(signer, "sql", 7, 2), true},
		{"upgrade", l.signed(signer, "sql", 7, 5), true},
		{"downgrade", l.signed(signer, "sql", 7, 1), false},
		{"other product", l.signed(signer, "sql", 8, 2), false},
		{"other signer", l.signed(other, "sql", 7, 2), false},
		{"other role", l.signed(signer, "ml", 7, 2), false},
	}
	for _, c := range cases {
		out, err := l.run(c.image, "unseal", blob)
		if c.ok && (err != nil || string(out) != "state") {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && err == nil {
			t.Errorf("%s: unsealed", c.name)
		}
	}
	if _, err := l.run(l.signed(signer, "sql", 7, 1), "unseal", blob); err == nil || !strings.Contains(err.Error(), "newer version") {
		t.Errorf("downgrade error does not say why: %v", err)
	}
}

// Evidence carries the identity the platform measured, so a policy pinned
// to one service's identity rejects every other service.
func TestPolicyPinnedToAnotherService(t *testing.T) {
	l := newLauncher(t)
	_, signer, _ := ed25519.GenerateKey(nil)
	v := &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: l.p.Verifier()}}
	evidence := func(image string) []byte { return l.mustRun(image, "evidence", []byte("n")) }
	kms := l.signed(signer, "kms", 1, 3)
	kmsEv := evidence(kms)
	cliEv := evidence("")
	ledgerEv := evidence(l.signed(signer, "ledger", 1, 3))

	cfg := sha256.Sum256(manifest("kms"))
	signerID := sha256.Sum256(signer.Public().(ed25519.PublicKey))
	pin := fmt.Sprintf(`{"version":"1.0.0","allOf":[
		{"claim":"platform","equals":"sim"},
		{"claim":"config_id","equals":%q},
		{"claim":"signer_id","equals":%q},
		{"claim":"product_id","equals":1},
		{"claim":"svn","greaterOrEquals":3}]}`, hex.EncodeToString(cfg[:]), hex.EncodeToString(signerID[:]))
	pol, err := attest.ParsePolicy([]byte(pin))
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), kmsEv, attest.Expect{Nonce: []byte("n"), Policy: pol})
	if err != nil {
		t.Fatalf("kms evidence rejected by the kms policy: %v", err)
	}
	j, _ := json.Marshal(c)
	if !strings.Contains(string(j), `"svn":3`) {
		t.Errorf("claims %s", j)
	}
	for name, ev := range map[string][]byte{"cli": cliEv, "ledger": ledgerEv} {
		if _, err := v.Verify(context.Background(), ev, attest.Expect{Policy: pol}); err == nil {
			t.Errorf("%s evidence passed the kms policy", name)
		}
	}
}

// A signed image names the executable it is for; the platform refuses to
// run anything else under it.
func TestImageForAnotherExecutable(t *testing.T) {
	l := newLauncher(t)
	_, signer, _ := ed25519.GenerateKey(nil)
	im, err := sim.SignImage(signer, make([]byte, 32), manifest("kms"), 1, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.run(l.image(im), "evidence", nil); err == nil || !strings.Contains(err.Error(), "another executable") {
		t.Errorf("got %v", err)
	}
}
