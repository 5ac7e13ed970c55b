package kms

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-jose/go-jose/v4"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/token"
	"github.com/confide/confide/audit"
	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/kms/api"
	"github.com/confide/confide/kvstore"
)

// Release errors are 403s with the reason; the reason names which check
// failed, never key material.
func releaseDenied(format string, args ...any) *httpx.Error {
	return httpx.Errorf(http.StatusForbidden, "release_denied", format, args...)
}

// Release returns a key version, as a JWE encrypted to the ephemeral key
// that the token's runtime data binds, if the token comes from a trusted
// attestation service and satisfies the key's release policy. Every
// release and every denial is audited.
func (b *Broker) Release(ctx context.Context, name string, req api.ReleaseRequest) (api.ReleaseResponse, error) {
	target := "key/" + name
	claims, issuer, err := b.verifyToken(req.Token)
	if err != nil {
		return api.ReleaseResponse{}, b.deny("anonymous", "release", target, err)
	}
	who := audit.EnclaveActor(claims.UniqueID, claims.ConfigID)
	epk, err := claims.ReleaseKey()
	if err != nil {
		return api.ReleaseResponse{}, b.deny(who, "release", target, releaseDenied("%v", err))
	}
	if len(req.JWK) > 0 {
		var given jose.JSONWebKey
		if given.UnmarshalJSON(req.JWK) != nil || !sameKey(&given, epk) {
			return api.ReleaseResponse{}, b.deny(who, "release", target,
				releaseDenied("the request's jwk is not the key the token's runtime data binds"))
		}
	}
	alg, err := token.KeyAlgorithm(epk)
	if err != nil {
		return api.ReleaseResponse{}, b.deny(who, "release", target, releaseDenied("%v", err))
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: alg, Key: epk},
		(&jose.EncrypterOptions{}).WithContentType("jwk+json"))
	if err != nil {
		return api.ReleaseResponse{}, b.deny(who, "release", target, releaseDenied("%v", err))
	}
	var (
		resp api.ReleaseResponse
		r    *record
		m    *material
	)
	err = b.cfg.Store.View(func(tx kvstore.Tx) error {
		var err error
		if r, err = b.get(tx, name); err != nil {
			return err
		}
		m, err = r.material(req.Version)
		return err
	})
	if errors.Is(err, errNoVersion) {
		err = httpx.Errorf(http.StatusNotFound, "no_such_version", "key %q has no version %d", name, req.Version)
	}
	if err != nil {
		return resp, b.deny(who, "release", target, err)
	}
	target = fmt.Sprintf("key/%s/%d", name, m.id())
	meta := r.meta()
	if !meta.Exportable || len(meta.ReleasePolicy) == 0 {
		return resp, b.deny(who, "release", target, releaseDenied("key %q is not exportable or has no release policy", name))
	}
	pol, err := attest.ParsePolicy(meta.ReleasePolicy)
	if err != nil {
		return resp, err
	}
	if err := pol.Evaluate(attest.Input{Claims: claims.Map(), Authority: issuer}); err != nil {
		return resp, b.deny(who, "release", target, releaseDenied("release policy: %v", err))
	}
	jwe, err := m.encryptTo(enc)
	if err != nil {
		return resp, errors.New("kms: encrypting the released key failed")
	}
	if err := b.cfg.Store.Update(func(tx kvstore.Tx) error {
		return b.record(tx, who, "release", target, audit.OK, "issuer "+issuer+" jti "+claims.ID)
	}); err != nil {
		return resp, err
	}
	b.events.WithLabelValues("release", "ok").Inc()
	return api.ReleaseResponse{Name: name, Version: m.id(), Key: jwe}, nil
}

// encryptTo returns the key version's private JWK as a compact JWE for
// the encrypter's recipient: the only form in which key material leaves
// the broker. Its error says nothing of the key.
//
//confide:declassify
func (m *material) encryptTo(enc jose.Encrypter) (string, error) {
	plain, err := m.jwk.MarshalJSON()
	if err != nil {
		return "", errors.New("kms: encoding the key")
	}
	defer clear(plain)
	obj, err := enc.Encrypt(plain)
	if err != nil {
		return "", errors.New("kms: encrypting the key")
	}
	return obj.CompactSerialize()
}

// verifyToken checks the token against each trusted issuer.
func (b *Broker) verifyToken(tok string) (*token.Claims, string, error) {
	if tok == "" {
		return nil, "", httpx.BadRequest("token is required")
	}
	if len(b.cfg.Issuers) == 0 {
		return nil, "", releaseDenied("this broker trusts no attestation service")
	}
	var first error
	for _, v := range b.cfg.Issuers {
		c, err := v.Verify(tok)
		if err == nil {
			return c, v.Issuer, nil
		}
		if first == nil || !errors.Is(err, token.ErrIssuer) {
			first = err
		}
	}
	return nil, "", httpx.Errorf(http.StatusUnauthorized, "bad_token", "%v", first)
}

func sameKey(a, b *jose.JSONWebKey) bool {
	ta, err1 := a.Thumbprint(cryptoSHA256)
	tb, err2 := b.Thumbprint(cryptoSHA256)
	return err1 == nil && err2 == nil && string(ta) == string(tb)
}
