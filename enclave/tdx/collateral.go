package tdx

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/go-tdx-guest/verify/trust"
)

// Collateral supplies the Intel PCS collateral that a quote is judged
// against. go-tdx-guest asks for it by Intel PCS v4 URL:
//
//	https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=<fmspc>
//	https://api.trustedservices.intel.com/tdx/certification/v4/qe/identity
//	https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=<platform|processor>&encoding=der
//	https://certificates.trustedservices.intel.com/IntelSGXRootCA.der
//
// Get returns what PCS would answer: the response headers that carry issuer
// chains (Tcb-Info-Issuer-Chain, Sgx-Enclave-Identity-Issuer-Chain,
// Sgx-Pck-Crl-Issuer-Chain, URL-encoded PEM) and the body. Collateral is
// not trusted: every piece is verified against the verifier's roots. An
// error makes verification fail; implementations decide nothing else.
type Collateral interface {
	Get(ctx context.Context, url string) (header map[string][]string, body []byte, err error)
}

// ErrNoCollateral is returned by collateral sources for URLs they cannot
// answer.
var ErrNoCollateral = errors.New("tdx: no such collateral")

// Names of the issuer chain headers, as go-tdx-guest looks them up.
const (
	hdrTCBInfoChain  = "Tcb-Info-Issuer-Chain"
	hdrQEIDChain     = "Sgx-Enclave-Identity-Issuer-Chain"
	hdrPCKCRLChain   = "Sgx-Pck-Crl-Issuer-Chain"
	pcsHost          = "api.trustedservices.intel.com"
	rootCRLHost      = "certificates.trustedservices.intel.com"
	pathTCBInfo      = "/tdx/certification/v4/tcb"
	pathQEIdentity   = "/tdx/certification/v4/qe/identity"
	pathPCKCRL       = "/sgx/certification/v4/pckcrl"
	pathRootCRL      = "/IntelSGXRootCA.der"
	fileQEIdentity   = "qeidentity.json"
	fileRootCRL      = "rootcrl.der"
	chainFileSuffix  = ".chain.pem"
	tcbInfoPrefix    = "tcbinfo-"
	pckCRLFilePrefix = "pckcrl-"
)

var fmspcPattern = regexp.MustCompile(`^[0-9a-f]{12}$`)

// CollateralFS serves collateral from files, typically a directory that a
// job refreshes from Intel PCS (os.DirFS) or files embedded in a binary.
// The layout, with bodies exactly as PCS sent them and each issuer chain
// header URL-decoded into PEM:
//
//	tcbinfo-<fmspc>.json          TDX TCB info for one FMSPC (lower-case hex)
//	tcbinfo-<fmspc>.chain.pem     its Tcb-Info-Issuer-Chain
//	qeidentity.json               TDX QE identity
//	qeidentity.chain.pem          its Sgx-Enclave-Identity-Issuer-Chain
//	pckcrl-<platform|processor>.der        PCK CRL (DER)
//	pckcrl-<platform|processor>.chain.pem  its Sgx-Pck-Crl-Issuer-Chain
//	rootcrl.der                   Intel SGX Root CA CRL (DER)
//
// The CRL files are only read when revocation is checked. Files are read on
// every request, so a refresh takes effect at once.
func CollateralFS(fsys fs.FS) Collateral { return fsCollateral{fsys} }

type fsCollateral struct{ fsys fs.FS }

func (c fsCollateral) Get(ctx context.Context, rawURL string) (map[string][]string, []byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	name, chainHeader, err := collateralFile(rawURL)
	if err != nil {
		return nil, nil, err
	}
	body, err := fs.ReadFile(c.fsys, name)
	if err != nil {
		return nil, nil, fmt.Errorf("tdx: collateral %s: %w", name, err)
	}
	if chainHeader == "" {
		return nil, body, nil
	}
	chainName := name[:len(name)-len(".json")]
	if chainHeader == hdrPCKCRLChain {
		chainName = name[:len(name)-len(".der")]
	}
	chainName += chainFileSuffix
	chain, err := fs.ReadFile(c.fsys, chainName)
	if err != nil {
		return nil, nil, fmt.Errorf("tdx: collateral %s: %w", chainName, err)
	}
	// Encoded as PCS encodes it: QueryEscape, with spaces as %20.
	escaped := strings.ReplaceAll(url.QueryEscape(string(chain)), "+", "%20")
	return map[string][]string{chainHeader: {escaped}}, body, nil
}

// collateralFile maps a PCS URL to the file holding its body and the header
// its issuer chain travels in ("" for none). Anything but the four URL
// shapes above, parameters included, is refused.
func collateralFile(rawURL string) (name, chainHeader string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Fragment != "" {
		return "", "", fmt.Errorf("%w: %q", ErrNoCollateral, rawURL)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", "", fmt.Errorf("%w: %q", ErrNoCollateral, rawURL)
	}
	one := func(k string) string {
		if v := q[k]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	switch {
	case u.Host == pcsHost && u.Path == pathTCBInfo && len(q) == 1 && fmspcPattern.MatchString(one("fmspc")):
		return tcbInfoPrefix + one("fmspc") + ".json", hdrTCBInfoChain, nil
	case u.Host == pcsHost && u.Path == pathQEIdentity && len(q) == 0:
		return fileQEIdentity, hdrQEIDChain, nil
	case u.Host == pcsHost && u.Path == pathPCKCRL && len(q) == 2 && one("encoding") == "der" &&
		(one("ca") == "platform" || one("ca") == "processor"):
		return pckCRLFilePrefix + one("ca") + ".der", hdrPCKCRLChain, nil
	case u.Host == rootCRLHost && u.Path == pathRootCRL && u.RawQuery == "":
		return fileRootCRL, "", nil
	}
	return "", "", fmt.Errorf("%w: %q", ErrNoCollateral, rawURL)
}

// GetterCollateral adapts a go-tdx-guest HTTPS getter: the library's
// canned test responses, or trust.DefaultHTTPSGetter() for a verifier that
// deliberately fetches from Intel PCS. The getter cannot be cancelled; ctx
// is only checked before each request.
func GetterCollateral(g trust.HTTPSGetter) Collateral { return getterCollateral{g} }

type getterCollateral struct{ g trust.HTTPSGetter }

func (c getterCollateral) Get(ctx context.Context, url string) (map[string][]string, []byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return c.g.Get(url)
}
