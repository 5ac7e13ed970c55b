package cek

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	kmsclient "github.com/confide/confide/kms/client"
)

// Provider opens CMKs of one kind of key path (a key store).
type Provider interface {
	// Name is the provider's name in CMK metadata, as SQL Server's
	// KEY_STORE_PROVIDER_NAME (CONFIDE_KEY_FILE, CONFIDE_KMS).
	Name() string
	// Open returns the CMK at a key path.
	Open(ctx context.Context, keyPath string) (CMK, error)
}

// KeyFiles opens CMKs in local PEM files; the key path is the file path.
type KeyFiles struct{}

// Name is CONFIDE_KEY_FILE.
func (KeyFiles) Name() string { return "CONFIDE_KEY_FILE" }

// Open reads the key file.
func (KeyFiles) Open(_ context.Context, keyPath string) (CMK, error) { return LoadKeyFile(keyPath) }

// Cache decrypts CEK values through providers, for client drivers: it
// opens only trusted key paths, so a malicious server cannot make the
// client use another key (SqlClient's trusted master key paths), and it
// keeps decrypted CEKs for TTL, keyed by the encrypted value itself (a
// server that swaps values under an unchanged path gets no stale key). It
// is safe for concurrent use.
type Cache struct {
	Providers []Provider
	// Trusted lists the key paths that may be opened, compared
	// case-insensitively; empty trusts none.
	Trusted []string
	// TTL is how long a decrypted CEK is kept; zero means 2 hours, as
	// SqlClient's default.
	TTL time.Duration
	Now func() time.Time

	mu   sync.Mutex
	keys map[[32]byte]cached
}

type cached struct {
	key     []byte // a CEK: client-side, kept out of logs by the code around it
	expires time.Time
}

// ErrUntrusted reports a key path the application did not allow.
type ErrUntrusted struct{ Path string }

func (e *ErrUntrusted) Error() string {
	return fmt.Sprintf("cek: column master key path %q is not trusted by this client", e.Path)
}

// Decrypt returns the CEK of an encrypted value that names provider and
// keyPath in the server's metadata.
func (c *Cache) Decrypt(ctx context.Context, provider, keyPath string, value []byte) ([]byte, error) {
	if !slices.ContainsFunc(c.Trusted, func(p string) bool { return strings.EqualFold(p, keyPath) }) {
		return nil, &ErrUntrusted{keyPath}
	}
	id := sha256.Sum256(append([]byte(strings.ToLower(provider)+"\x00"+strings.ToLower(keyPath)+"\x00"), value...))
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	c.mu.Lock()
	if e, ok := c.keys[id]; ok && now.Before(e.expires) {
		c.mu.Unlock()
		return slices.Clone(e.key), nil
	}
	c.mu.Unlock()
	var p Provider
	for _, q := range c.Providers {
		if strings.EqualFold(q.Name(), provider) {
			p = q
		}
	}
	if p == nil {
		return nil, fmt.Errorf("cek: no key store provider %q in this client", provider)
	}
	cmk, err := p.Open(ctx, keyPath)
	if err != nil {
		return nil, err
	}
	key, err := Decrypt(ctx, cmk, keyPath, value)
	if err != nil {
		return nil, err
	}
	ttl := c.TTL
	if ttl == 0 {
		ttl = 2 * time.Hour
	}
	c.mu.Lock()
	if c.keys == nil {
		c.keys = make(map[[32]byte]cached)
	}
	for k, e := range c.keys {
		if !now.Before(e.expires) {
			delete(c.keys, k)
		}
	}
	c.keys[id] = cached{key: slices.Clone(key), expires: now.Add(ttl)}
	c.mu.Unlock()
	return key, nil
}

// KMSKeys opens CMKs held by confide key brokers. A key path is the key's
// URL, https://HOST:PORT/v1/keys/NAME, optionally followed by /VERSION;
// Client returns the (authenticated, attested-TLS) client for a broker's
// base URL, or nil for a broker the application does not use.
type KMSKeys struct {
	Client func(baseURL string) *kmsclient.Client
}

// Name is CONFIDE_KMS.
func (KMSKeys) Name() string { return "CONFIDE_KMS" }

// Open parses the key URL.
func (k KMSKeys) Open(_ context.Context, keyPath string) (CMK, error) {
	u, err := url.Parse(keyPath)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("cek: key broker key path %q: want https://HOST:PORT/v1/keys/NAME[/VERSION]", keyPath)
	}
	rest, ok := strings.CutPrefix(u.Path, "/v1/keys/")
	name, ver, _ := strings.Cut(rest, "/")
	if !ok || name == "" {
		return nil, fmt.Errorf("cek: key broker key path %q: want https://HOST:PORT/v1/keys/NAME[/VERSION]", keyPath)
	}
	v := 0
	if ver != "" {
		if v, err = strconv.Atoi(ver); err != nil || v < 1 {
			return nil, fmt.Errorf("cek: key broker key path %q: bad version", keyPath)
		}
	}
	c := k.Client(u.Scheme + "://" + u.Host)
	if c == nil {
		return nil, fmt.Errorf("cek: no client for key broker %s", u.Host)
	}
	return &KMS{Client: c, Name: name, Version: v}, nil
}

// VerifyEnclave checks that a column master key allows enclave
// computations: its metadata signature, made with the key itself,
// verifies. The client checks it before any CEK of the key goes to an
// enclave, so a server cannot mark a key enclave-enabled on its own.
func (c *Cache) VerifyEnclave(ctx context.Context, provider, keyPath string, sig []byte) error {
	if !slices.ContainsFunc(c.Trusted, func(p string) bool { return strings.EqualFold(p, keyPath) }) {
		return &ErrUntrusted{keyPath}
	}
	var p Provider
	for _, q := range c.Providers {
		if strings.EqualFold(q.Name(), provider) {
			p = q
		}
	}
	if p == nil {
		return fmt.Errorf("cek: no key store provider %q in this client", provider)
	}
	cmk, err := p.Open(ctx, keyPath)
	if err != nil {
		return err
	}
	pub, err := cmk.Public(ctx)
	if err != nil {
		return err
	}
	if len(sig) == 0 || !VerifyMetadata(pub, provider, keyPath, true, sig) {
		return fmt.Errorf("cek: column master key %q does not allow enclave computations: its metadata signature does not verify", keyPath)
	}
	return nil
}
