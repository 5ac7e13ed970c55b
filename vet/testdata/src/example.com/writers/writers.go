// Package writers exercises the built-in summaries of the standard
// library: sinks, writers by provenance, declassifiers.
package writers

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/seal"
)

type Creds struct {
	User string
	Pass string //confide:secret
}

func stdStreams(c *Creds) {
	fmt.Fprintln(os.Stdout, c.User)
	fmt.Fprintln(os.Stdout, c.Pass) // want `direct leak: secret field Creds.Pass reaches standard output \(fmt.Fprintln\)`
	fmt.Fprintln(os.Stderr, c.Pass) // want `reaches standard error \(fmt.Fprintln\)`
	println(c.Pass)                 // want `reaches standard error \(builtin println\)`
}

func inMemory(c *Creds) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s", c.Pass) // stays in the enclave
	b := bytes.NewBufferString("x")
	io.WriteString(b, c.Pass)
	return sb.String() + b.String()
}

func files(c *Creds) error {
	f, err := os.Create("x")
	if err != nil {
		return err
	}
	defer f.Close()
	f.Write([]byte(c.User))
	f.Write([]byte(c.Pass))                         // want `reaches an os.File write \(os.\(\*File\).Write\)`
	fmt.Fprintf(f, "%s", c.Pass)                    // want `reaches an os.File write \(fmt.Fprintf\)`
	return os.WriteFile("y", []byte(c.Pass), 0o600) // want `reaches os.WriteFile`
}

func unknownWriter(w io.Writer, c *Creds) {
	w.Write([]byte("hello"))
	io.WriteString(w, c.Pass) // want `reaches an io.Writer of unknown dynamic type \(io.WriteString\)`
}

func hashes(c *Creds) []byte {
	h := sha256.New()
	h.Write([]byte(c.Pass))
	m := hmac.New(sha256.New, []byte(c.Pass))
	m.Write([]byte("msg"))
	sum := sha256.Sum256([]byte(c.Pass))
	fmt.Println(hex.EncodeToString(sum[:]), m.Sum(nil)) // declassified
	return h.Sum(nil)
}

func httpHandler(w http.ResponseWriter, r *http.Request, c *Creds) {
	w.Write([]byte(r.URL.Path))
	w.Write([]byte(c.Pass))      // want `reaches an http.ResponseWriter write`
	fmt.Fprint(w, c.Pass)        // want `reaches an http.ResponseWriter write \(fmt.Fprint\)`
	http.Error(w, c.Pass, 500)   // want `reaches an HTTP response \(http.Error\)`
	json.NewEncoder(w).Encode(c) // want `reaches an http.ResponseWriter write \(json.\(\*Encoder\).Encode\)`
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(c) // in memory
}

func conns(conn net.Conn, a *atls.Config, c *Creds) {
	conn.Write([]byte(c.Pass)) // want `reaches a net.Conn write`
	plain := tls.Client(conn, &tls.Config{})
	plain.Write([]byte(c.Pass)) // want `reaches a TLS connection not known to be attested`
	cfg, err := a.ClientConfig()
	if err != nil {
		return
	}
	attested := tls.Client(conn, cfg)
	attested.Write([]byte(c.Pass)) // encrypted to an attested peer
}

func sealing(ctx context.Context, s *seal.Sealer, c *Creds) {
	blob, _ := s.Seal(ctx, 0, []byte(c.Pass), nil)
	os.Stdout.Write(blob) // sealed: fine
	pt, _ := s.Unseal(ctx, blob, nil)
	os.Stdout.Write(pt) // want `secret result of seal.\(\*Sealer\).Unseal reaches standard output`
}

//confide:secret key
func aead(key, nonce []byte) {
	block, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(block)
	ct := g.Seal(nil, nonce, []byte("attack at dawn"), nil)
	os.Stdout.Write(ct) // encrypted: fine
	pt, _ := g.Open(nil, nonce, ct, nil)
	os.Stdout.Write(pt) // want `secret parameter key of aead reaches standard output`
}

func logging(c *Creds, l *slog.Logger) {
	slog.Info("login", "user", c.User)
	slog.Info("login", "pass", c.Pass)      // want `reaches slog output \(slog.Info\)`
	l.Warn("x", slog.String("p", c.Pass))   // want `reaches slog output \(slog.\(\*Logger\).Warn\)`
	log.New(os.Stderr, "", 0).Print(c.Pass) // want `reaches log output \(log.\(\*Logger\).Print\)`
}

// redact is a writer that keeps nothing; leaky prints.
type redact struct{}

func (redact) Write(p []byte) (int, error) { return len(p), nil }

type leaky struct{}

func (leaky) Write(p []byte) (int, error) { return os.Stdout.Write(p) }

func userWriters(c *Creds) {
	fmt.Fprint(redact{}, c.Pass)
	fmt.Fprint(leaky{}, c.Pass) // want `reaches standard output \(os.\(\*File\).Write\) via leaky.Write\(p\)`
}
