// Package proxy is a local wallet gateway to the ledger's Ethereum app:
// most Ethereum tools cannot present a TLS client certificate, so the
// proxy serves plain HTTP JSON-RPC (and its WebSocket) on loopback only
// and forwards each request to a node over the ledger's TLS with one
// user's certificate, to the primary when it knows it (it asks the
// nodes every second: a backup would forward writes to the primary and
// ask it how far it has committed before each answer, a round trip
// each), else trying the next node when one does not answer.
package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/confide/confide/ledger/eth/jsonrpc"
)

// Options configure a proxy.
type Options struct {
	// Nodes are the nodes' RPC addresses (host:port), tried in turn.
	Nodes func() []string
	// Cert is the user's client certificate; Service the service
	// certificate the nodes' certificates chain to.
	Cert    tls.Certificate
	Service *x509.Certificate
}

// Proxy forwards JSON-RPC to the ledger.
type Proxy struct {
	opts   Options
	rp     *httputil.ReverseProxy
	client *http.Client

	mu      sync.Mutex
	next    int
	primary string    // the primary's address, "" when unknown
	checked time.Time // when the nodes were last asked
	asking  bool
}

// RecheckPrimary is how often the proxy asks which node is primary.
const RecheckPrimary = time.Second

// New builds a proxy.
func New(opts Options) (*Proxy, error) {
	if opts.Service == nil || opts.Nodes == nil {
		return nil, errors.New("proxy: a service certificate and the nodes are needed")
	}
	pool := x509.NewCertPool()
	pool.AddCert(opts.Service)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{opts.Cert}, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
	}
	p := &Proxy{opts: opts, client: &http.Client{Transport: tr, Timeout: 2 * time.Second}}
	p.rp = &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host, r.Out.URL.Path, r.Out.URL.RawPath = "https", p.node(), jsonrpc.Path, ""
			r.Out.Host = ""
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode == http.StatusServiceUnavailable {
				p.failed() // no primary, or it lags: try another
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.failed()
			http.Error(w, "the ledger node did not answer; retry", http.StatusBadGateway)
		},
	}
	return p, nil
}

// failed moves on from the node in use: the next request goes to
// another, until the nodes say again which is primary.
func (p *Proxy) failed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	p.primary = ""
	p.checked = time.Time{}
}

func (p *Proxy) node() string {
	nodes := p.opts.Nodes()
	if len(nodes) == 0 {
		return "no-node.invalid"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.asking && time.Since(p.checked) > RecheckPrimary {
		p.asking = true
		go p.findPrimary(nodes)
	}
	if p.primary != "" {
		return p.primary
	}
	return nodes[p.next%len(nodes)]
}

// findPrimary asks each node, through its GET /node/state, whether it
// is primary.
func (p *Proxy) findPrimary(nodes []string) {
	found := ""
	for _, n := range nodes {
		resp, err := p.client.Get("https://" + n + "/node/state")
		if err != nil {
			continue
		}
		var st struct {
			Primary bool `json:"primary"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&st)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK && st.Primary {
			found = n
			break
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.primary, p.checked, p.asking = found, time.Now(), false
}

// ServeHTTP forwards a request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet && r.Method != http.MethodOptions {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// Listen opens a loopback listener; any other address is refused, since
// whoever reaches the proxy acts as the user.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("proxy: %s is not a loopback address: whoever reaches the proxy acts as its user", addr)
	}
	return net.Listen("tcp", addr)
}

// URL is the proxy's JSON-RPC URL on a listener.
func URL(ln net.Listener) string {
	return (&url.URL{Scheme: "http", Host: ln.Addr().String()}).String()
}
