// Package client is the Go client of the key broker. It imports the
// broker's wire types, never the broker.
package client

import (
	"context"
	"crypto"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/go-jose/go-jose/v4"

	"github.com/confide/confide/attest/token"
	attestclient "github.com/confide/confide/attestsvc/client"
	"github.com/confide/confide/audit"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/kms/api"
)

// Client talks to one key broker; Bearer authenticates owners and key
// users (releases authenticate with an attestation token instead).
type Client struct {
	httpx.Client
}

// New returns a client of the broker at baseURL.
func New(baseURL string, hc *http.Client) *Client {
	return &Client{httpx.Client{BaseURL: baseURL, HTTP: hc}}
}

func keyPath(name string, rest ...string) string {
	p := api.PathKeys + "/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// Create generates or imports a key.
func (c *Client) Create(ctx context.Context, name string, req api.CreateKey) (api.Key, error) {
	var k api.Key
	_, err := c.Do(ctx, http.MethodPut, keyPath(name), req, &k)
	return k, err
}

// Update sets a key's release policy or access list.
func (c *Client) Update(ctx context.Context, name string, req api.UpdateKey) (api.Key, error) {
	var k api.Key
	_, err := c.Do(ctx, http.MethodPatch, keyPath(name), req, &k)
	return k, err
}

// Rotate adds a key version.
func (c *Client) Rotate(ctx context.Context, name string) (api.Key, error) {
	var k api.Key
	_, err := c.Do(ctx, http.MethodPost, keyPath(name, "rotate"), []byte("{}"), &k)
	return k, err
}

// Get describes a key.
func (c *Client) Get(ctx context.Context, name string) (api.Key, error) {
	var k api.Key
	_, err := c.Do(ctx, http.MethodGet, keyPath(name), nil, &k)
	return k, err
}

// List describes every key.
func (c *Client) List(ctx context.Context) ([]api.Key, error) {
	var l api.KeyList
	_, err := c.Do(ctx, http.MethodGet, api.PathKeys, nil, &l)
	return l.Keys, err
}

// Delete deletes a key.
func (c *Client) Delete(ctx context.Context, name string) error {
	_, err := c.Do(ctx, http.MethodDelete, keyPath(name), nil, nil)
	return err
}

// Op runs a key operation (wrapkey, unwrapkey, sign, verify, encrypt,
// decrypt).
func (c *Client) Op(ctx context.Context, name, op string, req api.OpRequest) (api.OpResponse, error) {
	var r api.OpResponse
	_, err := c.Do(ctx, http.MethodPost, keyPath(name, op), req, &r)
	return r, err
}

// UnwrapKey decrypts a wrapped key with an RSA key of the broker, as
// Always Encrypted's key store providers do (alg RSA-OAEP: SHA-1).
func (c *Client) UnwrapKey(ctx context.Context, name string, version int, alg string, wrapped []byte) ([]byte, error) {
	r, err := c.Op(ctx, name, api.OpUnwrapKey, api.OpRequest{Alg: alg, Version: version, Value: base64.RawURLEncoding.EncodeToString(wrapped)})
	if err != nil {
		return nil, err
	}
	return base64.RawURLEncoding.DecodeString(r.Value)
}

// Audit fetches the audit log into w and returns the head the broker
// reported.
func (c *Client) Audit(ctx context.Context, w io.Writer) (audit.Head, error) {
	resp, err := c.Do(ctx, http.MethodGet, api.PathAudit, nil, w)
	if err != nil {
		return audit.Head{}, err
	}
	return attestclient.ParseHead(resp.Header.Get(api.HeaderAuditHead))
}

// Release asks for a key version with an attestation token whose runtime
// data binds the ephemeral key, and decrypts the reply with it.
func (c *Client) Release(ctx context.Context, name string, version int, tok string, ephemeral crypto.PrivateKey) (*jose.JSONWebKey, int, error) {
	var r api.ReleaseResponse
	if _, err := c.Do(ctx, http.MethodPost, keyPath(name, "release"), api.ReleaseRequest{Token: tok, Version: version}, &r); err != nil {
		return nil, 0, err
	}
	pt, err := token.OpenJWE(r.Key, ephemeral)
	if err != nil {
		return nil, 0, fmt.Errorf("kms client: released key: %w", err)
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(pt); err != nil {
		return nil, 0, fmt.Errorf("kms client: released key: %w", err)
	}
	clear(pt)
	return &k, r.Version, nil
}

// Migrate asks a predecessor broker for its master key with this
// (successor) broker's attestation token binding the ephemeral key, and
// decrypts it: the master key's JSON, for kms.Config.Predecessor.
func (c *Client) Migrate(ctx context.Context, tok string, ephemeral crypto.PrivateKey) ([]byte, error) {
	var r api.MigrateResponse
	if _, err := c.Do(ctx, http.MethodPost, api.PathMigrate, api.MigrateRequest{Token: tok}, &r); err != nil {
		return nil, err
	}
	pt, err := token.OpenJWE(r.Master, ephemeral)
	if err != nil {
		return nil, fmt.Errorf("kms client: migrated master key: %w", err)
	}
	return pt, nil
}

// MigrateFor runs the whole migration for the calling (successor) broker:
// a token from the attestation service binding a fresh ephemeral key,
// then Migrate.
func (c *Client) MigrateFor(ctx context.Context, as *attestclient.Client, a enclave.Attester) ([]byte, error) {
	e, err := token.NewEphemeral(nil)
	if err != nil {
		return nil, err
	}
	tok, err := as.Token(ctx, a, e.RuntimeData, "")
	if err != nil {
		return nil, err
	}
	return c.Migrate(ctx, tok, e.Key)
}

// Predecessor is a successor broker's way to its predecessor: Master is
// what kms.Config.Predecessor takes.
type Predecessor struct {
	Broker   *Client              // the predecessor
	Attest   *attestclient.Client // the attestation service issuing this broker's token
	Attester enclave.Attester     // this broker's platform
}

// Master obtains the predecessor's master key (MigrateFor).
func (p Predecessor) Master(ctx context.Context) ([]byte, error) {
	return p.Broker.MigrateFor(ctx, p.Attest, p.Attester)
}

// ReleaseFor runs the whole secure key release for the calling enclave:
// a token from the attestation service binding a fresh ephemeral key,
// then the release.
func (c *Client) ReleaseFor(ctx context.Context, as *attestclient.Client, a enclave.Attester, name string, version int, extra map[string]any) (*jose.JSONWebKey, int, error) {
	e, err := token.NewEphemeral(extra)
	if err != nil {
		return nil, 0, err
	}
	tok, err := as.Token(ctx, a, e.RuntimeData, "")
	if err != nil {
		return nil, 0, err
	}
	return c.Release(ctx, name, version, tok, e.Key)
}
