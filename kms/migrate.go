package kms

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-jose/go-jose/v4"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/token"
	"github.com/confide/confide/audit"
	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/kms/api"
	"github.com/confide/confide/kvstore"
)

// Migrate gives the broker's master key to a successor broker: one whose
// attestation token, from a trusted attestation service, satisfies the
// broker's successor policy (Config.SuccessorPolicy), encrypted (JWE) to
// the ephemeral key the token's runtime data binds. It is how a broker's
// keys outlive seal keys that change — an upgrade, or on SGX any
// microcode update — without leaving the enclaves. Every migration and
// every denial is audited.
func (b *Broker) Migrate(ctx context.Context, req api.MigrateRequest) (api.MigrateResponse, error) {
	if err := ctx.Err(); err != nil {
		return api.MigrateResponse{}, err
	}
	const target = "master"
	claims, issuer, err := b.verifyToken(req.Token)
	if err != nil {
		return api.MigrateResponse{}, b.deny("anonymous", "migrate", target, err)
	}
	who := audit.EnclaveActor(claims.UniqueID, claims.ConfigID)
	if b.successor == nil {
		return api.MigrateResponse{}, b.deny(who, "migrate", target, releaseDenied("this broker names no successor policy"))
	}
	if err := b.successor.Evaluate(attest.Input{Claims: claims.Map(), Authority: issuer}); err != nil {
		return api.MigrateResponse{}, b.deny(who, "migrate", target, releaseDenied("successor policy: %v", err))
	}
	epk, err := claims.ReleaseKey()
	if err != nil {
		return api.MigrateResponse{}, b.deny(who, "migrate", target, releaseDenied("%v", err))
	}
	alg, err := token.KeyAlgorithm(epk)
	if err != nil {
		return api.MigrateResponse{}, b.deny(who, "migrate", target, releaseDenied("%v", err))
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: alg, Key: epk}, nil)
	if err != nil {
		return api.MigrateResponse{}, b.deny(who, "migrate", target, releaseDenied("%v", err))
	}
	jwe, err := b.encryptMaster(enc)
	if err != nil {
		return api.MigrateResponse{}, err
	}
	if err := b.cfg.Store.Update(func(tx kvstore.Tx) error {
		return b.record(tx, who, "migrate", target, audit.OK, "issuer "+issuer+" jti "+claims.ID)
	}); err != nil {
		return api.MigrateResponse{}, err
	}
	b.events.WithLabelValues("migrate", "ok").Inc()
	return api.MigrateResponse{Master: jwe}, nil
}

// encryptMaster returns the master key as a compact JWE for enc's
// recipient: the only form in which it leaves the broker.
//
//confide:declassify
func (b *Broker) encryptMaster(enc jose.Encrypter) (string, error) {
	obj, err := enc.Encrypt(b.master)
	if err != nil {
		return "", errors.New("kms: encrypting the master key")
	}
	return obj.CompactSerialize()
}

// migrateRoute serves POST /v1/migrate: the successor authenticates by
// its token, not as a principal.
func (b *Broker) migrateRoute(w http.ResponseWriter, r *http.Request) error {
	var req api.MigrateRequest
	if err := httpx.DecodeJSON(r, api.MaxRequest, &req); err != nil {
		return err
	}
	resp, err := b.Migrate(r.Context(), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}
