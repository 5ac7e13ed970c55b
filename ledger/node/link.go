package node

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/ledger/identity"
)

// Link says how nodes reach each other: TLS 1.3, attested when ATLS is
// set, then a node hello in each direction.
//
// With attested TLS each side's TLS certificate carries evidence from
// its TEE, checked against ATLS.Policy (the code the network runs), so
// a peer is an enclave running approved code. That says nothing of
// which service it belongs to, so each side then sends its node
// certificate, which the service endorsed, and signs the TLS session's
// exported keying material with the node key: the hello proves the
// enclave at the other end of this very session holds a node key of this
// service. Without ATLS (a backend without attestation) the TLS
// certificates are the node certificates themselves and only the hello's
// service endorsement authenticates a peer.
type Link struct {
	Self    *identity.Identity
	Service *x509.Certificate
	ATLS    *atls.Config
}

func (l *Link) configs() (server, client *tls.Config, err error) {
	if l.ATLS == nil {
		c := TLSConfig(l.Self, l.Service)
		return c, c, nil
	}
	if server, err = l.ATLS.ServerConfig(); err != nil {
		return nil, nil, err
	}
	if client, err = l.ATLS.ClientConfig(); err != nil {
		return nil, nil, err
	}
	return server, client, nil
}

// Attested reports whether the link attests its peers.
func (l *Link) Attested() bool { return l.ATLS != nil }

const helloLabel = "confide ledger node hello v1"

// maxHello bounds a hello (a certificate and a signature).
const maxHello = 16 << 10

// hello sends this node's hello and checks the peer's; dialer says which
// side this is, so that a hello cannot be reflected back.
func (l *Link) hello(c *tls.Conn, dialer bool) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if err := c.Handshake(); err != nil {
		return err
	}
	cs := c.ConnectionState()
	ekm, err := cs.ExportKeyingMaterial(helloLabel, nil, 32)
	if err != nil {
		return err
	}
	digest := func(fromDialer bool) []byte {
		h := sha256.New()
		h.Write([]byte(helloLabel))
		if fromDialer {
			h.Write([]byte{1})
		} else {
			h.Write([]byte{0})
		}
		h.Write(ekm)
		return h.Sum(nil)
	}
	sig, err := ecdsa.SignASN1(rand.Reader, l.Self.Key, digest(dialer))
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for _, part := range [][]byte{l.Self.Cert.Raw, sig} {
		binary.Write(&out, binary.BigEndian, uint32(len(part)))
		out.Write(part)
	}
	// Both sides write first (TLS buffers them), then read.
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(out.Bytes())
		errc <- err
	}()
	var parts [2][]byte
	for i := range parts {
		var n uint32
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return fmt.Errorf("node hello: %w", err)
		}
		if n > maxHello {
			return errors.New("node hello: too long")
		}
		parts[i] = make([]byte, n)
		if _, err := io.ReadFull(c, parts[i]); err != nil {
			return fmt.Errorf("node hello: %w", err)
		}
	}
	if err := <-errc; err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(parts[0])
	if err != nil {
		return fmt.Errorf("node hello: %w", err)
	}
	pub, err := identity.CheckNode(cert, l.Service)
	if err != nil {
		return fmt.Errorf("node hello: %w", err)
	}
	if !ecdsa.VerifyASN1(pub, digest(!dialer), parts[1]) {
		return errors.New("node hello: the peer's node key did not sign this session")
	}
	return nil
}

// serverConn runs the server side of a connection: handed on once its
// hello checks out.
func (l *Link) serverConn(c net.Conn, conf *tls.Config) (*tls.Conn, error) {
	tc := tls.Server(c, conf)
	if err := l.hello(tc, false); err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

func (l *Link) dial(addr string, conf *tls.Config) (*tls.Conn, error) {
	nc, err := (&net.Dialer{Timeout: time.Second}).Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(nc, conf)
	if err := l.hello(tc, true); err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

// SameCodePolicy admits peers that run the code this node runs: the
// same unique ID (measurement) on the same platform, and simulated
// evidence only if this node is itself simulated (spec/policy.md's
// opt-in). Governance replaces it with the allowed-code tables (issue 18).
func SameCodePolicy(self enclave.Identity) (*attest.Policy, error) {
	conds := []string{fmt.Sprintf(`{"claim":"platform","equals":%q}`, self.Platform),
		fmt.Sprintf(`{"claim":"unique_id","equals":%q}`, hex.EncodeToString(self.UniqueID))}
	if self.Platform != enclave.PlatformSim {
		conds = append(conds, `{"claim":"debug","equals":false}`)
	}
	return attest.ParsePolicy([]byte(`{"version":"1.0.0","allOf":[` + strings.Join(conds, ",") + `]}`))
}
