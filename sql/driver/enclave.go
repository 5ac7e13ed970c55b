package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/token"
	attestclient "github.com/confide/confide/attestsvc/client"
	"github.com/confide/confide/sql/ddl"
	"github.com/confide/confide/sql/sqlenclave"
)

// With secure enclaves (spec/ae-enclave.md), the describe answer lists
// the CEKs the server's SQL enclave needs for a statement, each with the
// signature that makes its column master key enclave-enabled. The driver
// checks the signature with the CMK itself, attests the enclave against
// the DSN's enclave_policy once per Connector, and sends the keys in a
// key package bound to the statement before running it; it resends a key
// only after resendAfter, or when the enclave lost it (a restart).
const resendAfter = 30 * time.Minute

// enclaveKeys opens the CEKs of "enclave" describe rows, refusing any
// whose CMK's enclave signature does not verify.
func (cn *conn) enclaveKeys(ctx context.Context, rows map[string][]describeRow) (map[string][]byte, error) {
	out := make(map[string][]byte, len(rows))
	for name, rs := range rows {
		var first error
		for _, r := range rs {
			err := cn.c.cfg.Keys.VerifyEnclave(ctx, r.key.provider, r.key.path, r.signature)
			if err == nil {
				var k []byte
				if k, err = cn.c.cfg.Keys.Decrypt(ctx, r.key.provider, r.key.path, r.key.value); err == nil {
					out[name] = k
					break
				}
			}
			if first == nil {
				first = err
			}
		}
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("driver: column encryption key %s cannot go to the SQL enclave: %w", name, first)
		}
	}
	return out, nil
}

// withEnclave runs fn after the enclave has the statement's keys; if the
// server answers that the enclave lacks one, it forgets the session,
// attests again, resends and retries once.
func (cn *conn) withEnclave(ctx context.Context, query string, p *plan, fn func() error) error {
	if p == nil || len(p.enclaveKeys) == 0 {
		return fn()
	}
	for attempt := 0; ; attempt++ {
		if err := cn.sendKeys(ctx, query, p.enclaveKeys, attempt > 0); err != nil {
			return err
		}
		err := fn()
		var pe *pgconn.PgError
		if attempt == 0 && errors.As(err, &pe) && pe.Code == "28000" && strings.Contains(pe.Message, "does not hold") {
			continue
		}
		return err
	}
}

// sendKeys makes sure the enclave holds keys: fresh forces a new session.
func (cn *conn) sendKeys(ctx context.Context, query string, keys map[string][]byte, fresh bool) error {
	c := cn.c
	if (c.enclavePolicy == nil || c.cfg.Enclave == nil) && c.asURL == "" {
		return errors.New("driver: this statement needs the server's SQL enclave: set enclave_policy=PATH (with Config.Enclave) or enclave_attestation_url and enclave_attestation_policy in the DSN")
	}
	c.mu.Lock()
	if fresh {
		c.session, c.sent = nil, nil
	}
	s := c.session
	// In-place ALTERs always carry their own package: the enclave lets a
	// column be decrypted only for a statement that says so.
	_, inPlace := ddlStatement(query).(*ddl.AlterColumn)
	due := s == nil || inPlace
	now := time.Now()
	for name := range keys {
		if t, ok := c.sent[name]; !ok || now.Sub(t) > resendAfter {
			due = true
		}
	}
	c.mu.Unlock()
	if !due {
		return nil
	}
	if s == nil {
		var err error
		if s, err = cn.attest(ctx); err != nil {
			return err
		}
	}
	pkg, err := s.Package(query, keys)
	if err != nil {
		return err
	}
	var n int
	if err := cn.pg.QueryRow(ctx, "SELECT * FROM "+sqlenclave.KeysFunction+"($1, $2)", pkg, query).Scan(&n); err != nil {
		return fmt.Errorf("driver: sending keys to the SQL enclave: %w", err)
	}
	c.mu.Lock()
	c.session = s
	if c.sent == nil {
		c.sent = map[string]time.Time{}
	}
	for name := range keys {
		c.sent[name] = now
	}
	c.mu.Unlock()
	return nil
}

func ddlStatement(q string) any {
	st, _ := ddl.Parse(q)
	return st
}

// attest opens a session with the server's SQL enclave: its evidence is
// verified here against enclave_policy, or by the attestation service at
// enclave_attestation_url, whose signed token the driver checks (as Azure
// SQL's drivers use Azure Attestation).
func (cn *conn) attest(ctx context.Context) (*sqlenclave.Session, error) {
	c := cn.c
	var nonce []byte
	var err error
	var svc *attestclient.Client
	if c.asURL != "" {
		svc = attestclient.New(c.asURL, nil)
		if c.cfg.AttestationService != nil {
			svc = c.cfg.AttestationService(c.asURL)
		}
		// The service's challenge is the nonce the enclave binds.
		if nonce, err = svc.Challenge(ctx); err != nil {
			return nil, fmt.Errorf("driver: the attestation service: %w", err)
		}
	} else if nonce, err = sqlenclave.NewNonce(); err != nil {
		return nil, err
	}
	var att sqlenclave.Attestation
	if err := cn.pg.QueryRow(ctx, "SELECT * FROM "+sqlenclave.AttestFunction+"($1)", nonce).Scan(&att.SessionID, &att.EnclaveKey, &att.Evidence); err != nil {
		return nil, fmt.Errorf("driver: attesting the SQL enclave: %w", err)
	}
	if svc != nil {
		c.mu.Lock()
		if c.asKeys == nil {
			c.asKeys = &attestclient.KeySet{Client: svc}
		}
		keys := c.asKeys
		c.mu.Unlock()
		return sqlenclave.Open(ctx, att, nonce, func(ctx context.Context, ev, nonce, rd []byte) error {
			tok, err := svc.Attest(ctx, ev, nonce, rd, c.asPolicy)
			if err != nil {
				return err
			}
			claims, err := (&token.Verifier{Issuer: c.asURL, Keys: keys}).Verify(tok)
			if err != nil {
				return err
			}
			// The token must be about this evidence: its runtime data.
			got, err := claims.RawRuntimeData()
			if err != nil || !bytes.Equal(got, rd) {
				return errors.New("the attestation token does not bind this session's key")
			}
			return nil
		})
	}
	v, pol := c.cfg.Enclave, c.enclavePolicy
	return sqlenclave.Open(ctx, att, nonce, func(ctx context.Context, ev, nonce, rd []byte) error {
		_, err := v.Verify(ctx, ev, attest.Expect{Nonce: nonce, RuntimeData: rd, Policy: pol})
		return err
	})
}
