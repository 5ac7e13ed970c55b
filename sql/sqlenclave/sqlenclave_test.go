package sqlenclave_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/sql/cell"
	"github.com/confide/confide/sql/sqlenclave"
	"github.com/confide/confide/sql/types"
)

type world struct {
	p   *simtest.Platform
	enc *sqlenclave.Enclave
	now time.Time
}

func newWorld(t *testing.T) *world {
	p := simtest.Start(t)
	w := &world{p: p, now: time.Now()}
	w.enc = &sqlenclave.Enclave{Platform: p.Client, Now: func() time.Time { return w.now }}
	return w
}

// verifier checks evidence as the driver does: chain, nonce, runtime
// data, policy.
func (w *world) verifier(t *testing.T, policy string) sqlenclave.Verify {
	pol, err := attest.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	v := &attest.Verifier{Backends: map[string]enclave.Verifier{"sim": w.p.Verifier()}}
	return func(ctx context.Context, ev, nonce, rd []byte) error {
		_, err := v.Verify(ctx, ev, attest.Expect{Nonce: nonce, RuntimeData: rd, Policy: pol})
		return err
	}
}

// thisEnclave is a policy for the test process's own identity.
func (w *world) thisEnclave(t *testing.T) string {
	id, err := w.p.Client.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return `{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"unique_id","equals":"` + hex.EncodeToString(id.UniqueID) + `"}]}`
}

func (w *world) session(t *testing.T, policy string) (*sqlenclave.Session, error) {
	ctx := context.Background()
	nonce, err := sqlenclave.NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	att, err := w.enc.Attest(ctx, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return sqlenclave.Open(ctx, att, nonce, w.verifier(t, policy))
}

var cek1 = bytes.Repeat([]byte{7}, 32)

func TestKeysReachTheEnclave(t *testing.T) {
	w := newWorld(t)
	s, err := w.session(t, w.thisEnclave(t))
	if err != nil {
		t.Fatal(err)
	}
	const stmt = `SELECT id FROM t WHERE salary > $1`
	pkg, err := s.Package(stmt, map[string][]byte{"CEK1": cek1})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(pkg, cek1) {
		t.Fatal("the package carries the key in clear")
	}
	if got := w.enc.Missing("cek1"); len(got) != 1 {
		t.Fatalf("missing before delivery: %v", got)
	}
	names, err := w.enc.AcceptKeys(pkg, stmt)
	if err != nil || len(names) != 1 || names[0] != "cek1" {
		t.Fatalf("accept: %v %v", names, err)
	}
	// The cached key is the delivered one: a cell made with it opens.
	k, ok := w.enc.CellKey("Cek1")
	if !ok {
		t.Fatal("key not cached")
	}
	want, _ := cell.NewKey(cek1)
	c, _ := want.Encrypt([]byte("42"), false, nil)
	if pt, err := k.Decrypt(c); err != nil || string(pt) != "42" {
		t.Fatalf("cached key: %q %v", pt, err)
	}
	// A second package of the session, for another statement.
	pkg2, _ := s.Package("SELECT 2", map[string][]byte{"cek2": bytes.Repeat([]byte{9}, 32)})
	if _, err := w.enc.AcceptKeys(pkg2, "SELECT 2"); err != nil {
		t.Fatal(err)
	}
	// Keys expire an hour after their last delivery.
	w.now = w.now.Add(sqlenclave.IdleTTL + time.Minute)
	if got := w.enc.Missing("cek1", "cek2"); len(got) != 2 {
		t.Errorf("after an idle hour: missing %v", got)
	}
}

func TestPackageRefusals(t *testing.T) {
	w := newWorld(t)
	s, err := w.session(t, w.thisEnclave(t))
	if err != nil {
		t.Fatal(err)
	}
	const stmt = `SELECT id FROM t WHERE c LIKE $1`
	pkg, _ := s.Package(stmt, map[string][]byte{"cek1": cek1})
	// Another statement than the one the package was made for.
	if _, err := w.enc.AcceptKeys(pkg, `SELECT id FROM t WHERE c > $1`); !errors.Is(err, sqlenclave.ErrRejected) {
		t.Errorf("other statement: %v", err)
	}
	if _, err := w.enc.AcceptKeys(pkg, stmt); err != nil {
		t.Fatal(err)
	}
	// Replayed: the counter does not increase.
	if _, err := w.enc.AcceptKeys(pkg, stmt); !errors.Is(err, sqlenclave.ErrRejected) {
		t.Errorf("replay: %v", err)
	}
	// Every flipped byte is refused.
	pkg2, _ := s.Package(stmt, map[string][]byte{"cek1": cek1})
	for i := range pkg2 {
		bad := bytes.Clone(pkg2)
		bad[i] ^= 0x20
		if _, err := w.enc.AcceptKeys(bad, stmt); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	if _, err := w.enc.AcceptKeys(pkg2, stmt); err != nil {
		t.Errorf("the intact package after the tampered ones: %v", err)
	}
	// Truncated, empty, and from another session's client key.
	for _, bad := range [][]byte{nil, {1}, pkg2[:len(pkg2)-1]} {
		if _, err := w.enc.AcceptKeys(bad, stmt); !errors.Is(err, sqlenclave.ErrRejected) {
			t.Errorf("%d bytes: %v", len(bad), err)
		}
	}
	other, err := w.session(t, w.thisEnclave(t))
	if err != nil {
		t.Fatal(err)
	}
	mixed, _ := other.Package(stmt, map[string][]byte{"cek1": cek1})
	copy(mixed[1:17], s.ID()) // the other session's package, relabelled
	if _, err := w.enc.AcceptKeys(mixed, stmt); !errors.Is(err, sqlenclave.ErrRejected) {
		t.Errorf("relabelled package: %v", err)
	}
	// A session that is never used expires.
	late, _ := w.session(t, w.thisEnclave(t))
	w.now = w.now.Add(sqlenclave.PendingTTL + time.Second)
	p3, _ := late.Package(stmt, map[string][]byte{"cek1": cek1})
	if _, err := w.enc.AcceptKeys(p3, stmt); !errors.Is(err, sqlenclave.ErrRejected) {
		t.Errorf("expired pending session: %v", err)
	}
}

func TestAttestationRefusals(t *testing.T) {
	w := newWorld(t)
	// Another enclave's identity.
	wrong := `{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"unique_id","equals":"` + strings.Repeat("ab", 32) + `"}]}`
	if _, err := w.session(t, wrong); err == nil {
		t.Error("wrong identity: accepted")
	}
	// A production policy (no simulation) refuses the simulated, debug
	// enclave.
	prod := `{"version":"1.0.0","allOf":[{"claim":"debug","equals":false}]}`
	if _, err := w.session(t, prod); err == nil {
		t.Error("simulated debug enclave under a production policy: accepted")
	}
	// Evidence for another nonce, or binding another enclave key.
	ctx := context.Background()
	nonce, _ := sqlenclave.NewNonce()
	att, err := w.enc.Attest(ctx, nonce)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := sqlenclave.NewNonce()
	if _, err := sqlenclave.Open(ctx, att, other, w.verifier(t, w.thisEnclave(t))); err == nil {
		t.Error("stale nonce: accepted")
	}
	att2, _ := w.enc.Attest(ctx, nonce)
	swapped := att
	swapped.EnclaveKey = att2.EnclaveKey // a host's own key under honest evidence
	if _, err := sqlenclave.Open(ctx, swapped, nonce, w.verifier(t, w.thisEnclave(t))); err == nil {
		t.Error("swapped enclave key: accepted")
	}
	if _, err := w.enc.Attest(ctx, nonce[:8]); err == nil {
		t.Error("short nonce: accepted")
	}
}

func FuzzParseBody(f *testing.F) {
	// A well-formed body for "SELECT 1" with one key named k.
	good := append(make([]byte, 16), 0, 0, 0, 0, 0, 0, 0, 1)
	h := sha256.Sum256([]byte("SELECT 1"))
	good = append(append(good, h[:]...), 0, 1, 0, 1, 'k')
	good = append(good, bytes.Repeat([]byte{5}, 32)...)
	f.Add(good, "SELECT 1")
	f.Fuzz(func(t *testing.T, body []byte, stmt string) {
		keys, _, ok := sqlenclave.ParseBody(body, stmt)
		if !ok {
			return
		}
		if len(keys) == 0 {
			t.Fatal("accepted a body without keys")
		}
		for n, k := range keys {
			if len(k) != 32 || n == "" || n != strings.ToLower(n) {
				t.Fatalf("key %q of %d bytes", n, len(k))
			}
		}
	})
}

func FuzzAcceptKeys(f *testing.F) {
	f.Add([]byte{1, 2, 3}, "SELECT 1")
	f.Add(append([]byte{1}, make([]byte, 200)...), "")
	enc := &sqlenclave.Enclave{}
	f.Fuzz(func(t *testing.T, pkg []byte, stmt string) {
		if _, err := enc.AcceptKeys(pkg, stmt); err == nil {
			t.Fatal("a package from no session was accepted")
		}
	})
}

func TestInPlaceOperations(t *testing.T) {
	w := newWorld(t)
	s, err := w.session(t, w.thisEnclave(t))
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(stmt string) {
		t.Helper()
		pkg, _ := s.Package(stmt, map[string][]byte{"k1": cek1, "k2": bytes.Repeat([]byte{8}, 32)})
		if _, err := w.enc.AcceptKeys(pkg, stmt); err != nil {
			t.Fatal(err)
		}
	}
	enc := `ALTER TABLE t ALTER COLUMN c INT ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = k2, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256')`
	deliver(enc)
	ty, _ := types.Parse("INT")
	norm, _ := ty.Normalize(int64(-42))
	env, err := w.enc.Encrypt(norm, "k1", ty, true)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := w.enc.Reencrypt(env, "k2", ty, false)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.enc.Compare(env, moved); err != nil || n != 0 {
		t.Errorf("the re-encrypted cell compares %d %v", n, err)
	}
	vc, _ := types.Parse("VARCHAR(5)")
	if _, err := w.enc.Reencrypt(env, "k2", vc, false); err == nil {
		t.Error("re-encryption changed the type")
	}
	// Decryption only after a decrypting statement's package, for a
	// while.
	if _, err := w.enc.Decrypt(moved); err == nil {
		t.Fatal("decrypted without a decrypting statement")
	}
	deliver(`ALTER TABLE t ALTER COLUMN c INT`)
	pt, err := w.enc.Decrypt(moved)
	if err != nil || !bytes.Equal(pt, norm) {
		t.Fatalf("decrypt: %x %v", pt, err)
	}
	w.now = w.now.Add(sqlenclave.DecryptWindow + time.Second)
	if _, err := w.enc.Decrypt(moved); err == nil {
		t.Error("decrypted after the window")
	}
	deliver(`ALTER TABLE t ALTER COLUMN c INT`)
	deliver(`SELECT c FROM t WHERE c > $1`)
	if _, err := w.enc.Decrypt(moved); err == nil {
		t.Error("decrypted after another statement's package")
	}
}
