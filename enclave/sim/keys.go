package sim

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Files of a simulated platform, under its directory ($CONFIDE_HOME/platform).
const (
	RootCertFile = "root.crt"   // simulated vendor root CA (trust anchor)
	rootKeyFile  = "root.key"   // its key: stands in for the vendor's HSM
	akCertFile   = "ak.crt"     // platform attestation key certificate
	akKeyFile    = "ak.key"     // platform attestation key (ECDSA P-256; P-384 if issued before report version 2)
	sealFile     = "seal.key"   // platform sealing secret (32 bytes)
	SignerFile   = "signer.key" // development signer key for `confide dev`
	SocketFile   = "platform.sock"
)

// ErrNotInitialized is returned when a platform directory holds no platform.
var ErrNotInitialized = errors.New("sim: platform not initialized (run `confide platform init`)")

// akLifetime is short so that an attestation key left behind on a machine
// stops being trusted; Load renews it from the root while it can.
const akLifetime = 90 * 24 * time.Hour

// akCurve is the curve of the attestation keys issueAK makes: P-256, as
// SGX DCAP's attestation keys, so that a report verifies about ten times
// faster than on P-384 (report version 2). Keys issued on P-384 before
// version 2 existed are kept until renewal and sign version 1 reports.
var akCurve = elliptic.P256()

// Keys is a simulated platform's secret state.
type Keys struct {
	Root      *x509.Certificate
	rootKey   *ecdsa.PrivateKey
	AKCert    *x509.Certificate
	ak        *ecdsa.PrivateKey
	seal      []byte
	DevSigner ed25519.PrivateKey
}

// InitOptions configure Init; zero values take the real sources.
type InitOptions struct {
	Rand io.Reader
	Now  func() time.Time
}

// Init creates a platform in dir (mode 0700): a simulated vendor root
// (P-384), an attestation key (P-256) certified by it, a sealing secret
// and a development signer key. It refuses to overwrite an existing platform, whose sealing
// secret would be lost with everything sealed under it.
func Init(dir string, opt InitOptions) (*Keys, error) {
	rnd, now := opt.Rand, opt.Now
	if rnd == nil {
		rnd = rand.Reader
	}
	if now == nil {
		now = time.Now
	}
	if _, err := os.Stat(filepath.Join(dir, sealFile)); err == nil {
		return nil, fmt.Errorf("sim: a platform already exists in %s", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	k := &Keys{seal: make([]byte, 32)}
	var err error
	if k.rootKey, err = ecdsa.GenerateKey(elliptic.P384(), rnd); err != nil {
		return nil, err
	}
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(rnd),
		Subject:      pkix.Name{Organization: []string{"confide"}, CommonName: "confide SIMULATED vendor root (not a real TEE)"},
		NotBefore:    t.Add(-time.Hour), NotAfter: t.AddDate(20, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLen: 1,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &k.rootKey.PublicKey, k.rootKey)
	if err != nil {
		return nil, err
	}
	if k.Root, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	if err := k.issueAK(rnd, t); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(rnd, k.seal); err != nil {
		return nil, err
	}
	if _, k.DevSigner, err = ed25519.GenerateKey(rnd); err != nil {
		return nil, err
	}
	return k, k.save(dir)
}

func serial(rnd io.Reader) *big.Int {
	n, err := rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(1)
	}
	return n
}

// issueAK makes a new attestation key and has the root certify it.
func (k *Keys) issueAK(rnd io.Reader, t time.Time) error {
	ak, err := ecdsa.GenerateKey(akCurve, rnd)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(rnd),
		Subject:      pkix.Name{Organization: []string{"confide"}, CommonName: "confide SIMULATED platform attestation key"},
		NotBefore:    t.Add(-time.Hour), NotAfter: t.Add(akLifetime),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, k.Root, &ak.PublicKey, k.rootKey)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	k.ak, k.AKCert = ak, cert
	return nil
}

func (k *Keys) save(dir string) error {
	files := []struct {
		name string
		data []byte
	}{
		{RootCertFile, pemBlock("CERTIFICATE", k.Root.Raw)},
		{rootKeyFile, pemKey(k.rootKey)},
		{akCertFile, pemBlock("CERTIFICATE", k.AKCert.Raw)},
		{akKeyFile, pemKey(k.ak)},
		{sealFile, k.seal},
		{SignerFile, pemKey(k.DevSigner)},
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pemKey(key any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err) // ECDSA and Ed25519 keys always marshal
	}
	return pemBlock("PRIVATE KEY", der)
}

// Load reads a platform from dir, renewing its attestation key (new key,
// new certificate) when less than a third of its certificate's lifetime
// is left. A P-384 attestation key, as platforms initialised before report
// version 2 hold, is kept until then, and replaced by a P-256 key.
func Load(dir string, opt InitOptions) (*Keys, error) {
	rnd, now := opt.Rand, opt.Now
	if rnd == nil {
		rnd = rand.Reader
	}
	if now == nil {
		now = time.Now
	}
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNotInitialized
		}
		return b, err
	}
	k := &Keys{}
	var err error
	if k.seal, err = read(sealFile); err != nil {
		return nil, err
	}
	if len(k.seal) != 32 {
		return nil, errors.New("sim: sealing secret is corrupt")
	}
	if k.Root, err = readCert(read, RootCertFile); err != nil {
		return nil, err
	}
	if k.AKCert, err = readCert(read, akCertFile); err != nil {
		return nil, err
	}
	var key any
	if key, err = readKey(read, rootKeyFile); err != nil {
		return nil, err
	}
	var ok bool
	if k.rootKey, ok = key.(*ecdsa.PrivateKey); !ok {
		return nil, errors.New("sim: root key is not ECDSA")
	}
	if key, err = readKey(read, akKeyFile); err != nil {
		return nil, err
	}
	if k.ak, ok = key.(*ecdsa.PrivateKey); !ok {
		return nil, errors.New("sim: attestation key is not ECDSA")
	}
	if _, err := formatFor(&k.ak.PublicKey); err != nil {
		return nil, err
	}
	if key, err = readKey(read, SignerFile); err != nil {
		return nil, err
	}
	if k.DevSigner, ok = key.(ed25519.PrivateKey); !ok {
		return nil, errors.New("sim: signer key is not Ed25519")
	}
	if t := now(); k.AKCert.NotAfter.Sub(t) < akLifetime/3 {
		if err := k.issueAK(rnd, t); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(filepath.Join(dir, akKeyFile), pemKey(k.ak)); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(filepath.Join(dir, akCertFile), pemBlock("CERTIFICATE", k.AKCert.Raw)); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func readCert(read func(string) ([]byte, error), name string) (*x509.Certificate, error) {
	b, err := read(name)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("sim: %s is not a PEM certificate", name)
	}
	return x509.ParseCertificate(blk.Bytes)
}

func readKey(read func(string) ([]byte, error), name string) (any, error) {
	b, err := read(name)
	if err != nil {
		return nil, err
	}
	return ParsePrivateKeyPEM(b)
}

// ReportVersion is the version of the reports the platform signs: 2 with
// a P-256 attestation key, 1 with a P-384 key issued before version 2.
func (k *Keys) ReportVersion() int {
	f, err := formatFor(&k.ak.PublicKey)
	if err != nil {
		return 0
	}
	return int(f.version)
}

// ParsePrivateKeyPEM reads a PKCS#8 private key in PEM.
func ParsePrivateKeyPEM(b []byte) (any, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("sim: not a PEM PKCS#8 private key")
	}
	return x509.ParsePKCS8PrivateKey(blk.Bytes)
}

// MarshalPrivateKeyPEM writes a private key as PEM PKCS#8.
func MarshalPrivateKeyPEM(key any) []byte { return pemKey(key) }

// LoadRoots reads the trust anchor of the platform in dir, for verifiers.
func LoadRoots(dir string) (*x509.CertPool, error) {
	b, err := os.ReadFile(filepath.Join(dir, RootCertFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotInitialized
	}
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("sim: no certificate in root file")
	}
	return pool, nil
}
