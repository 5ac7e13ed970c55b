// Package snptest is a fake AMD SEV-SNP platform for tests: it mints an
// ARK → ASK/ASVK → VCEK/VLEK certificate chain with go-sev-guest's fake
// AMD keys and signs attestation reports describing the guest you choose.
// Its roots are as good as AMD's to a Verifier configured with them and
// worthless to any other; it is never linked into production code.
package snptest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha512"
	"fmt"
	"time"

	"github.com/confide/confide/enclave/snp"
	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	sevtest "github.com/google/go-sev-guest/testing"
	"github.com/google/uuid"
)

// Options describe the fake guest and its platform. The zero value is a
// non-debug guest with zero measurement on an up-to-date Milan at TCB 0.
type Options struct {
	Measurement     [48]byte
	HostData        [32]byte
	IDKeyDigest     [48]byte
	AuthorKeyDigest [48]byte
	// AuthorKey sets SIGNER_INFO.AUTHOR_KEY_EN.
	AuthorKey bool
	FamilyID  [16]byte
	ImageID   [16]byte
	GuestSVN  uint32
	// Policy is the guest policy; zero means 0x30000 (SMT allowed and the
	// must-be-one bit 17). Debug sets bit 19 on top.
	Policy uint64
	Debug  bool
	// VLEK signs with the VLEK rather than the VCEK.
	VLEK bool
	// TCB is REPORTED_TCB, CURRENT_TCB, COMMITTED_TCB and LAUNCH_TCB, and
	// the TCB the endorsement key certificates certify. Every byte but the
	// top one (microcode) must be at most 127.
	TCB    uint64
	ChipID [64]byte
	// Version is the report version; zero means 3.
	Version uint32
	// ProductName is a KDS product name; empty means "Milan-B0".
	ProductName string
	// Created is when the certificates were issued; zero means
	// 2024-01-01T00:00:00Z. The VCEK and VLEK expire 7 years later.
	Created time.Time
	// EndorsementOnly leaves the ASK, ASVK and ARK out of the host's
	// certificate table, as hosts that only cache the VCEK do.
	EndorsementOnly bool
	// Keys are the fake AMD keys; nil means go-sev-guest's fixed test keys.
	Keys *sevtest.AmdKeys
	// Edit, if set, changes each report just before it is signed.
	Edit func(*spb.Report)
}

// Platform is a fake SNP platform. It implements snp.QuoteProvider.
type Platform struct {
	// Signer holds the fake AMD keys and certificates.
	Signer *sevtest.AmdSigner
	// Options shape every report signed from now on. The chain was minted
	// by New: changing ProductName, Created, Keys or EndorsementOnly has
	// no effect on it, and changing TCB or ChipID makes reports that the
	// endorsement key certificate does not match.
	Options Options
	product *spb.SevProduct
	table   []byte
}

// New mints a certificate chain for opts.
func New(opts Options) (*Platform, error) {
	if opts.ProductName == "" {
		opts.ProductName = "Milan-B0"
	}
	if opts.Created.IsZero() {
		opts.Created = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	product, err := kds.ParseProductName(opts.ProductName, abi.VcekReportSigner)
	if err != nil {
		return nil, err
	}
	tcb := kds.DecomposeTCBVersion(kds.TCBVersion(opts.TCB))
	if opts.Keys == nil {
		opts.Keys = sevtest.DefaultAmdKeys()
	}
	b := &sevtest.AmdSignerBuilder{
		Keys:             opts.Keys,
		ProductName:      opts.ProductName,
		CSPID:            "snptest",
		ArkCreationTime:  opts.Created,
		AskCreationTime:  opts.Created,
		AsvkCreationTime: opts.Created,
		VcekCreationTime: opts.Created,
		VlekCreationTime: opts.Created,
		VcekCustom:       sevtest.CertOverride{Extensions: sevtest.CustomExtensions(tcb, opts.ChipID[:], "", opts.ProductName)},
		VlekCustom:       sevtest.CertOverride{Extensions: sevtest.CustomExtensions(tcb, nil, "snptest", opts.ProductName)},
	}
	s, err := b.TestOnlyCertChain()
	if err != nil {
		return nil, err
	}
	p := &Platform{Signer: s, Options: opts, product: product}
	if opts.EndorsementOnly {
		t := abi.CertTable{Entries: []abi.CertTableEntry{
			{GUID: uuid.MustParse(abi.VcekGUID), RawCert: s.Vcek.Raw},
			{GUID: uuid.MustParse(abi.VlekGUID), RawCert: s.Vlek.Raw},
		}}
		p.table = t.Marshal()
	} else if p.table, err = s.CertTableBytes(); err != nil {
		return nil, err
	}
	return p, nil
}

// Roots returns the fake chain's root, for snp.Verifier.Roots.
func (p *Platform) Roots() []snp.Root {
	return []snp.Root{{
		ProductLine: kds.ProductLine(p.product),
		ARK:         p.Signer.Ark,
		ASK:         p.Signer.Ask,
		ASVK:        p.Signer.Asvk,
	}}
}

// Now is a time at which every certificate of the chain is valid.
func (p *Platform) Now() time.Time { return p.Options.Created.Add(24 * time.Hour) }

// Attester returns an attester on this platform that completes chains
// with its roots.
func (p *Platform) Attester() *snp.Attester {
	return &snp.Attester{Quotes: p, Roots: p.Roots()}
}

// Verifier returns a verifier trusting only this platform's roots, at Now.
func (p *Platform) Verifier() *snp.Verifier {
	now := p.Now()
	return &snp.Verifier{Roots: p.Roots(), Now: func() time.Time { return now }}
}

// GetRawQuote returns a signed report for reportData followed by the
// host's certificate table, as the Linux configfs-tsm interface does.
func (p *Platform) GetRawQuote(reportData [64]byte) ([]byte, error) {
	r, err := p.Report(reportData)
	if err != nil {
		return nil, err
	}
	return append(r, p.table...), nil
}

// Report returns a signed 1184-byte attestation report for reportData.
func (p *Platform) Report(reportData [64]byte) ([]byte, error) {
	o := p.Options
	if o.Version == 0 {
		o.Version = abi.ReportVersion3
	}
	if o.Policy == 0 {
		o.Policy = 0x30000
	}
	if o.Debug {
		o.Policy |= 1 << 19
	}
	signer := abi.VcekReportSigner
	key := p.Signer.Keys.Vcek
	if o.VLEK {
		signer, key = abi.VlekReportSigner, p.Signer.Keys.Vlek
	}
	r := &spb.Report{
		Version:         o.Version,
		GuestSvn:        o.GuestSVN,
		Policy:          o.Policy,
		FamilyId:        o.FamilyID[:],
		ImageId:         o.ImageID[:],
		SignatureAlgo:   abi.SignEcdsaP384Sha384,
		CurrentTcb:      o.TCB,
		SignerInfo:      abi.ComposeSignerInfo(abi.SignerInfo{SigningKey: signer, AuthorKeyEn: o.AuthorKey}),
		ReportData:      reportData[:],
		Measurement:     o.Measurement[:],
		HostData:        o.HostData[:],
		IdKeyDigest:     o.IDKeyDigest[:],
		AuthorKeyDigest: o.AuthorKeyDigest[:],
		ReportId:        make([]byte, abi.ReportIDSize),
		ReportIdMa:      ones(abi.ReportIDMASize),
		ReportedTcb:     o.TCB,
		ChipId:          o.ChipID[:],
		CommittedTcb:    o.TCB,
		CurrentBuild:    21,
		CurrentMinor:    55,
		CurrentMajor:    1,
		CommittedBuild:  21,
		CommittedMinor:  55,
		CommittedMajor:  1,
		LaunchTcb:       o.TCB,
		Signature:       make([]byte, abi.SignatureSize),
	}
	if o.Version >= abi.ReportVersion3 {
		r.Cpuid1EaxFms = abi.MaskedCpuid1EaxFromSevProduct(p.product)
	}
	if o.Edit != nil {
		o.Edit(r)
	}
	raw, err := abi.ReportToAbiBytes(r)
	if err != nil {
		return nil, fmt.Errorf("snptest: %w", err)
	}
	if err := Sign(raw, key); err != nil {
		return nil, err
	}
	return raw, nil
}

// Sign (re)signs a raw report in place with key, as the AMD secure
// processor signs with the VCEK or VLEK.
func Sign(report []byte, key *ecdsa.PrivateKey) error {
	if len(report) != abi.ReportSize {
		return fmt.Errorf("snptest: report of %d bytes", len(report))
	}
	h := sha512.Sum384(abi.SignedComponent(report))
	rr, ss, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		return err
	}
	clear(report[0x2A0:])
	return abi.SetSignature(rr, ss, report)
}

func ones(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0xFF
	}
	return b
}
