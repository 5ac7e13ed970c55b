package sgx

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/confide/confide/enclave/dcap"
)

// FetchOptions say what to fetch from a PCCS (or Intel PCS) and where to
// keep it.
type FetchOptions struct {
	// Base is the service's URL: a PCCS ("https://pccs.example:8081") or
	// Intel PCS ("https://api.trustedservices.intel.com"); the v4 API paths
	// are appended.
	Base string
	// FMSPCs are the platform models to fetch TCB info for.
	FMSPCs [][6]byte
	// CAs are the PCK issuers whose CRLs to fetch ("platform",
	// "processor"); nil means both.
	CAs []string
	// RootCRL is where the root CA's CRL is; "" means Base's
	// /sgx/certification/v4/rootcacrl.
	RootCRL string
	// Dir receives the files, in CollateralFS's layout.
	Dir string
	// Roots check what was fetched before anything is written (nil:
	// Intel's SGX Root CA); Client makes the requests (nil: a client with
	// a 30 s timeout).
	Roots  []*x509.Certificate
	Client *http.Client
}

// maxCollateral bounds a response body.
const maxCollateral = 4 << 20

// Fetch gets the collateral for the platform models and checks every
// piece — its signature or its issuer's, under the roots — before writing
// any file, then writes each file whole (a temporary file renamed), so an
// interrupted or poisoned fetch leaves the directory as it was. The
// bodies are kept exactly as served; issuer chains arrive URL-encoded in
// headers and are kept as PEM; a root CRL served as hex or PEM is kept as
// its DER.
func Fetch(ctx context.Context, o FetchOptions) error {
	if o.Base == "" || o.Dir == "" || len(o.FMSPCs) == 0 {
		return errors.New("sgx: fetch: a base URL, platform models (FMSPC) and a directory are needed")
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Roots == nil {
		o.Roots = []*x509.Certificate{dcap.IntelRoot()}
	}
	pool := x509.NewCertPool()
	for _, c := range o.Roots {
		pool.AddCert(c)
	}
	if o.CAs == nil {
		o.CAs = []string{"platform", "processor"}
	}
	base := strings.TrimSuffix(o.Base, "/") + "/sgx/certification/v4"
	now := time.Now()
	files := map[string][]byte{}
	get := func(path, chainHeader string) (body, chain []byte, err error) {
		u := path
		if !strings.Contains(path, "://") {
			u = base + path
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, nil, err
		}
		resp, err := o.Client.Do(req)
		if err != nil {
			return nil, nil, fmt.Errorf("sgx: fetch %s: %w", u, err)
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxCollateral+1))
		if err != nil || len(body) > maxCollateral {
			return nil, nil, fmt.Errorf("sgx: fetch %s: body unreadable or over %d bytes", u, maxCollateral)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, nil, fmt.Errorf("sgx: fetch %s: %s", u, resp.Status)
		}
		if chainHeader == "" {
			return body, nil, nil
		}
		for _, h := range strings.Split(chainHeader, ",") {
			if v := resp.Header.Get(h); v != "" {
				pemChain, err := url.PathUnescape(v)
				if err != nil {
					return nil, nil, fmt.Errorf("sgx: fetch %s: header %s: %v", u, h, err)
				}
				return body, []byte(pemChain), nil
			}
		}
		return nil, nil, fmt.Errorf("sgx: fetch %s: no %s header", u, chainHeader)
	}
	for _, f := range o.FMSPCs {
		fm := hex.EncodeToString(f[:])
		body, chain, err := get("/tcb?fmspc="+fm, "TCB-Info-Issuer-Chain,SGX-TCB-Info-Issuer-Chain")
		if err != nil {
			return err
		}
		t, err := dcap.ParseTCBInfo(body, chain, pool, now)
		if err != nil {
			return fmt.Errorf("sgx: fetched TCB info for %s: %w", fm, err)
		}
		if t.FMSPC != f {
			return fmt.Errorf("sgx: fetched TCB info for %s is for %x", fm, t.FMSPC)
		}
		files["tcbinfo-"+fm+".json"], files["tcbinfo-"+fm+".chain.pem"] = body, chain
	}
	body, chain, err := get("/qe/identity", "SGX-Enclave-Identity-Issuer-Chain")
	if err != nil {
		return err
	}
	if _, err := dcap.ParseQEIdentity(body, chain, pool, now); err != nil {
		return fmt.Errorf("sgx: fetched QE identity: %w", err)
	}
	files["qeidentity.json"], files["qeidentity.chain.pem"] = body, chain
	for _, ca := range o.CAs {
		if ca != "platform" && ca != "processor" {
			return fmt.Errorf("sgx: fetch: CA %q: platform or processor", ca)
		}
		body, chain, err := get("/pckcrl?ca="+ca+"&encoding=der", "SGX-PCK-CRL-Issuer-Chain")
		if err != nil {
			return err
		}
		der, err := crlDER(body)
		if err != nil {
			return fmt.Errorf("sgx: fetched PCK CRL (%s): %w", ca, err)
		}
		if err := checkCRL(der, chain, o.Roots, now); err != nil {
			return fmt.Errorf("sgx: fetched PCK CRL (%s): %w", ca, err)
		}
		files["pckcrl-"+ca+".der"], files["pckcrl-"+ca+".chain.pem"] = der, chain
	}
	rootURL := o.RootCRL
	if rootURL == "" {
		rootURL = base + "/rootcacrl"
	}
	body, _, err = get(rootURL, "")
	if err != nil {
		return err
	}
	der, err := crlDER(body)
	if err != nil {
		return fmt.Errorf("sgx: fetched root CA CRL: %w", err)
	}
	if err := checkCRL(der, nil, o.Roots, now); err != nil {
		return fmt.Errorf("sgx: fetched root CA CRL: %w", err)
	}
	files["rootcrl.der"] = der
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	for name, b := range files {
		if err := writeWhole(filepath.Join(o.Dir, name), b); err != nil {
			return err
		}
	}
	return nil
}

// crlDER takes a CRL served as DER, hex of DER or PEM.
func crlDER(b []byte) ([]byte, error) {
	if _, err := x509.ParseRevocationList(b); err == nil {
		return b, nil
	}
	if d, err := hex.DecodeString(strings.TrimSpace(string(b))); err == nil {
		if _, err := x509.ParseRevocationList(d); err == nil {
			return d, nil
		}
	}
	if p, _ := pem.Decode(b); p != nil && p.Type == "X509 CRL" {
		if _, err := x509.ParseRevocationList(p.Bytes); err == nil {
			return p.Bytes, nil
		}
	}
	return nil, errors.New("not a CRL (DER, hex or PEM)")
}

// checkCRL checks a CRL's signature: by the first certificate of chain
// (which must verify to roots), or, without a chain, by a root.
func checkCRL(der, chainPEM []byte, roots []*x509.Certificate, at time.Time) error {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return err
	}
	var issuers []*x509.Certificate
	if chainPEM != nil {
		certs, err := dcap.ParseCertificates(chainPEM)
		if err != nil {
			return err
		}
		inter, pool := x509.NewCertPool(), x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		for _, c := range roots {
			pool.AddCert(c)
		}
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: at}); err != nil {
			return err
		}
		issuers = certs[:1]
	} else {
		issuers = roots
	}
	for _, c := range issuers {
		if crl.CheckSignatureFrom(c) == nil {
			return nil
		}
	}
	return errors.New("not signed by its issuer")
}

// writeWhole writes b to path through a temporary file and a rename.
func writeWhole(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
