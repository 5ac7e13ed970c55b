package sgx

import (
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"

	"github.com/confide/confide/enclave/dcap"
)

// Collateral supplies the Intel PCS collateral that quotes from one
// platform model are judged against: ca is the PCK certificate's issuer
// ("platform" or "processor"), which names the PCK CRL. Collateral is not
// trusted — every piece is verified against the verifier's roots — but it
// expires, so a stale source makes verification fail (ErrExpired).
type Collateral interface {
	For(ctx context.Context, fmspc [6]byte, ca string) (*dcap.Collateral, error)
}

// CollateralFS serves collateral from files, the layout
// `confide sgx collateral fetch --out DIR` writes (spec/evidence-sgx.md),
// bodies exactly as PCS sent them and each issuer chain URL-decoded into
// PEM:
//
//	tcbinfo-<fmspc>.json, tcbinfo-<fmspc>.chain.pem   SGX TCB info (lower-case hex FMSPC)
//	qeidentity.json, qeidentity.chain.pem             SGX QE identity
//	pckcrl-<platform|processor>.der, ….chain.pem      PCK CRL (DER)
//	rootcrl.der                                       Intel SGX Root CA CRL (DER)
//
// Files are read on every request, so a refresh takes effect at once;
// the verifier remembers what it verified by content, not by name. The
// CRL files are read only when revocation is checked.
func CollateralFS(fsys fs.FS, revocation bool) Collateral { return fsCollateral{fsys, revocation} }

type fsCollateral struct {
	fsys       fs.FS
	revocation bool
}

func (c fsCollateral) For(ctx context.Context, fmspc [6]byte, ca string) (*dcap.Collateral, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ca != "platform" && ca != "processor" {
		return nil, fmt.Errorf("%w: PCK issuer %q", errNoCollateral, ca)
	}
	type file struct {
		name string
		dst  *[]byte
	}
	tcb := "tcbinfo-" + hex.EncodeToString(fmspc[:])
	col := &dcap.Collateral{}
	files := []file{{tcb + ".json", &col.TCBInfo}, {tcb + ".chain.pem", &col.TCBInfoChain},
		{"qeidentity.json", &col.QEIdentity}, {"qeidentity.chain.pem", &col.QEIdentityChain}}
	if c.revocation {
		files = append(files, file{"pckcrl-" + ca + ".der", &col.PCKCRL},
			file{"pckcrl-" + ca + ".chain.pem", &col.PCKCRLChain}, file{"rootcrl.der", &col.RootCRL})
	}
	for _, f := range files {
		b, err := fs.ReadFile(c.fsys, f.name)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errNoCollateral, f.name, err)
		}
		*f.dst = b
	}
	return col, nil
}
