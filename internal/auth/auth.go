// Package auth authenticates the callers of confide's services by bearer
// token. The services never hold the tokens themselves: a principals file
// lists each principal's name and the SHA-256 of its token, so the file
// can be published, measured into an enclave's manifest, or reviewed
// without revealing a credential.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/confide/confide/internal/httpx"
)

// Principal is an authenticated caller.
type Principal struct {
	Name string `json:"name"`
	// TokenSHA256 is the hex SHA-256 of the principal's bearer token.
	TokenSHA256 string `json:"token_sha256"`
	// Admin principals may manage policies and keys.
	Admin bool `json:"admin,omitempty"`
}

// File is the principals file (version 1).
type File struct {
	Version    int         `json:"version"`
	Principals []Principal `json:"principals"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// Principals authenticates requests. The zero value knows nobody.
type Principals struct {
	byHash map[[32]byte]Principal
}

// Parse reads a principals file.
func Parse(b []byte) (*Principals, error) {
	var f File
	if err := httpx.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("principals file: %w", err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("principals file: version %d, want 1", f.Version)
	}
	p := &Principals{byHash: make(map[[32]byte]Principal)}
	names := make(map[string]bool)
	for _, pr := range f.Principals {
		if !nameRE.MatchString(pr.Name) {
			return nil, fmt.Errorf("principals file: bad name %q", pr.Name)
		}
		if names[pr.Name] {
			return nil, fmt.Errorf("principals file: %q listed twice", pr.Name)
		}
		names[pr.Name] = true
		h, err := hex.DecodeString(pr.TokenSHA256)
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("principals file: %s: token_sha256 must be 64 hex digits", pr.Name)
		}
		k := [32]byte(h)
		if _, dup := p.byHash[k]; dup {
			return nil, fmt.Errorf("principals file: %s shares a token with another principal", pr.Name)
		}
		p.byHash[k] = pr
	}
	return p, nil
}

// NewToken returns a fresh random bearer token and its principals-file
// hash.
func NewToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = "cft_" + base64.RawURLEncoding.EncodeToString(b)
	return token, Hash(token), nil
}

// Hash returns the hex SHA-256 of a token, as the principals file holds it.
func Hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// ErrUnauthenticated is returned for a request without a known token.
var ErrUnauthenticated = &httpx.Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "a valid bearer token is required"}

// ErrForbidden is returned for an authenticated caller without the right.
var ErrForbidden = &httpx.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "the caller may not do this"}

// Authenticate returns the request's principal. The token is looked up
// by its SHA-256, so the lookup's timing depends only on a hash of the
// presented token, never on how much of a real token it matches.
func (p *Principals) Authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" || p == nil {
		return Principal{}, ErrUnauthenticated
	}
	pr, ok := p.byHash[sha256.Sum256([]byte(tok))]
	if !ok {
		return Principal{}, ErrUnauthenticated
	}
	return pr, nil
}

// Admin authenticates an administrator.
func (p *Principals) Admin(r *http.Request) (Principal, error) {
	pr, err := p.Authenticate(r)
	if err != nil {
		return pr, err
	}
	if !pr.Admin {
		return pr, ErrForbidden
	}
	return pr, nil
}

// Names lists the known principals' names.
func (p *Principals) Names() []string {
	var out []string
	if p != nil {
		for _, pr := range p.byHash {
			out = append(out, pr.Name)
		}
	}
	return out
}
