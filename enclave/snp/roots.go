package snp

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"sync"

	"github.com/google/go-sev-guest/kds"
	"github.com/google/go-sev-guest/verify/trust"
)

// Root is one AMD product line's certificate authority: the self-signed
// ARK and the intermediates it certified. Evidence names its root by
// carrying the exact certificates, which must be one Root's.
type Root struct {
	// ProductLine is AMD's name for the processor generation: "Milan",
	// "Genoa", "Turin".
	ProductLine string
	// ARK is the AMD root key's self-signed certificate.
	ARK *x509.Certificate
	// ASK signs VCEKs; nil to reject VCEK-signed evidence under this root.
	ASK *x509.Certificate
	// ASVK signs VLEKs; nil to reject VLEK-signed evidence under this root.
	ASVK *x509.Certificate
}

// AMDRoots returns AMD's published roots for the product lines
// go-sev-guest embeds (Milan, Genoa, Turin), each with its ASK and ASVK.
func AMDRoots() []Root {
	r := amdRoots()
	return append([]Root(nil), r...)
}

var amdRoots = sync.OnceValue(func() []Root {
	lines := []struct {
		name       string
		vcek, vlek []byte
	}{
		{"Milan", trust.AskArkMilanVcekBytes, trust.AskArkMilanVlekBytes},
		{"Genoa", trust.AskArkGenoaVcekBytes, trust.AskArkGenoaVlekBytes},
		{"Turin", trust.AskArkTurinVcekBytes, trust.AskArkTurinVlekBytes},
	}
	var roots []Root
	for _, l := range lines {
		ask, ark := mustChain(l.vcek)
		asvk, ark2 := mustChain(l.vlek)
		if !ark.Equal(ark2) {
			panic(fmt.Sprintf("snp: embedded %s VCEK and VLEK chains have different ARKs", l.name))
		}
		roots = append(roots, Root{ProductLine: l.name, ARK: ark, ASK: ask, ASVK: asvk})
	}
	return roots
})

// mustChain parses one of the library's embedded cert_chain bundles (some
// end with extra blank lines).
func mustChain(pems []byte) (ica, ark *x509.Certificate) {
	icaDER, arkDER, err := kds.ParseProductCertChain(bytes.TrimSpace(pems))
	if err != nil {
		panic("snp: embedded AMD chain: " + err.Error())
	}
	if ica, err = x509.ParseCertificate(icaDER); err != nil {
		panic("snp: embedded AMD chain: " + err.Error())
	}
	if ark, err = x509.ParseCertificate(arkDER); err != nil {
		panic("snp: embedded AMD chain: " + err.Error())
	}
	return ica, ark
}
