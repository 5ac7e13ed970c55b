package leak

import (
	"strings"
)

// The standard library has no analysis facts (the checker does not
// analyse it), so its functions get built-in summaries: this table for
// sinks, writers, declassifiers and the oblivious allow-list; every other
// standard function propagates its arguments to its results and into
// what its pointer arguments point to, and is not known to be oblivious.
// Functions of other modules named here are overridden the same way.

type spKind int

const (
	spSink          spKind = iota + 1 // arguments (args, or all) reach sink
	spWriter                          // writes data args to the writer at w
	spDeclassify                      // results are public; constant-time
	spDeclassifyArg                   // result is argument k (dst) only; constant-time
	spAllowed                         // propagates; constant-time (oblivious allow-list)
	spSecretResult                    // propagates; results are secret
	spUnanalysed                      // like a standard function without an entry: propagates; not constant-time
)

type special struct {
	kind spKind
	sink string
	args []int // spSink: the arguments that leave (nil: all); spWriter: the data (nil: all but w)
	w    int
	k    int
}

const (
	sinkStdout = "standard output"
	sinkLog    = "log output"
	sinkSlog   = "slog output"
	sinkNet    = "a net.Conn write"
	sinkFile   = "an os.File write"
)

var specials = map[string]special{}

func init() {
	sink := func(name string, args []int, fns ...string) {
		for _, f := range fns {
			specials[f] = special{kind: spSink, sink: name, args: args}
		}
	}
	writer := func(w int, data []int, fns ...string) {
		for _, f := range fns {
			specials[f] = special{kind: spWriter, w: w, args: data}
		}
	}
	kind := func(k spKind, fns ...string) {
		for _, f := range fns {
			specials[f] = special{kind: k}
		}
	}

	sink(sinkStdout, nil, "fmt.Print", "fmt.Printf", "fmt.Println")
	logFns := []string{"Print", "Printf", "Println", "Fatal", "Fatalf", "Fatalln", "Panic", "Panicf", "Panicln", "Output"}
	for _, f := range logFns {
		sink(sinkLog, nil, "log."+f, "(*log.Logger)."+f)
	}
	for _, f := range []string{"Debug", "Info", "Warn", "Error", "Log", "LogAttrs", "DebugContext", "InfoContext", "WarnContext", "ErrorContext"} {
		sink(sinkSlog, nil, "log/slog."+f, "(*log/slog.Logger)."+f)
	}
	sink("os.WriteFile", nil, "os.WriteFile")
	sink("a write system call", nil, "syscall.Write", "syscall.Pwrite", "syscall.Sendto", "syscall.Sendmsg")
	sink(sinkNet, []int{1}, "(*net.conn).Write")
	sink(sinkNet, nil,
		"(*net.UDPConn).WriteTo", "(*net.UDPConn).WriteToUDP", "(*net.UDPConn).WriteMsgUDP",
		"(*net.UDPConn).WriteToUDPAddrPort", "(*net.UDPConn).WriteMsgUDPAddrPort",
		"(*net.UnixConn).WriteTo", "(*net.UnixConn).WriteToUnix", "(*net.UnixConn).WriteMsgUnix",
		"(*net.IPConn).WriteTo", "(*net.IPConn).WriteToIP", "(*net.IPConn).WriteMsgIP",
		"(net.PacketConn).WriteTo")
	sink("an HTTP response", []int{1}, "net/http.Error")

	writer(0, nil, "fmt.Fprint", "fmt.Fprintf", "fmt.Fprintln", "io.WriteString")
	writer(0, []int{1}, "io.Copy", "io.CopyN", "io.CopyBuffer")
	writer(0, nil,
		"(io.Writer).Write", "(io.StringWriter).WriteString", "(io.ByteWriter).WriteByte",
		"(io.WriterAt).WriteAt", "(io.ReaderFrom).ReadFrom",
		"(net.Conn).Write", "(net/http.ResponseWriter).Write",
		"(*os.File).Write", "(*os.File).WriteString", "(*os.File).WriteAt", "(*os.File).ReadFrom",
		"(*crypto/tls.Conn).Write",
		"(*bufio.Writer).Write", "(*bufio.Writer).WriteString", "(*bufio.Writer).WriteByte",
		"(*bufio.Writer).WriteRune", "(*bufio.Writer).ReadFrom",
		"(*encoding/json.Encoder).Encode", "(*encoding/gob.Encoder).Encode", "(*encoding/gob.Encoder).EncodeValue",
		"(*encoding/xml.Encoder).Encode", "(*encoding/xml.Encoder).EncodeElement", "(*encoding/xml.Encoder).EncodeToken",
		"(*encoding/csv.Writer).Write", "(*encoding/csv.Writer).WriteAll")
	writer(0, []int{2}, "encoding/binary.Write")
	writer(0, []int{1}, "encoding/pem.Encode")
	writer(1, []int{0}, "(io.WriterTo).WriteTo", "(*bytes.Buffer).WriteTo", "(*bytes.Reader).WriteTo", "(*strings.Reader).WriteTo")

	specials["(crypto/cipher.AEAD).Seal"] = special{kind: spDeclassifyArg, k: 1}
	specials["(hash.Hash).Sum"] = special{kind: spDeclassifyArg, k: 1}
	kind(spDeclassify,
		"(hash.Hash32).Sum32", "(hash.Hash64).Sum64",
		"crypto/hmac.New", "crypto/hmac.Equal",
		"crypto/sha256.Sum256", "crypto/sha256.Sum224",
		"crypto/sha512.Sum512", "crypto/sha512.Sum384", "crypto/sha512.Sum512_224", "crypto/sha512.Sum512_256",
		"crypto/sha1.Sum", "crypto/md5.Sum",
		"crypto/sha3.Sum224", "crypto/sha3.Sum256", "crypto/sha3.Sum384", "crypto/sha3.Sum512",
		"crypto/sha3.SumSHAKE128", "crypto/sha3.SumSHAKE256",
		"crypto/ecdsa.Sign", "crypto/ecdsa.SignASN1", "(*crypto/ecdsa.PrivateKey).Sign",
		"crypto/ed25519.Sign", "(crypto/ed25519.PrivateKey).Sign",
		"crypto/rsa.SignPKCS1v15", "crypto/rsa.SignPSS", "(*crypto/rsa.PrivateKey).Sign",
		"crypto/rsa.EncryptOAEP", "crypto/rsa.EncryptPKCS1v15",
		"crypto/x509.CreateCertificate", "crypto/x509.CreateCertificateRequest", "crypto/x509.CreateRevocationList",
		"(crypto.Signer).Sign",
		"(*github.com/confide/confide/seal.Sealer).Seal")
	kind(spAllowed,
		"(crypto/cipher.AEAD).Open",
		"math.Float64bits", "math.Float64frombits", "math.Float32bits", "math.Float32frombits",
		"math.Abs", "math.Copysign", "math.Sqrt")
	kind(spSecretResult, "(*github.com/confide/confide/seal.Sealer).Unseal")
	// go-jose's JSON codec is a fork of encoding/json: it reports errors
	// by panicking and recovering within the same call, which the
	// checker, not modelling recover, would take for secrets reaching a
	// panic. Its entry points are summarised as encoding/json's are.
	kind(spUnanalysed,
		"(*github.com/go-jose/go-jose/v4.JSONWebKey).UnmarshalJSON",
		"(github.com/go-jose/go-jose/v4.JSONWebKey).MarshalJSON",
		"github.com/go-jose/go-jose/v4/json.Unmarshal",
		"github.com/go-jose/go-jose/v4/json.Marshal")
	// encoding/binary's fixed-width byte orders are shifts and byte
	// loads and stores: constant-time.
	for _, order := range []string{"littleEndian", "bigEndian", "nativeEndian"} {
		for _, f := range []string{"Uint16", "Uint32", "Uint64", "PutUint16", "PutUint32", "PutUint64", "AppendUint16", "AppendUint32", "AppendUint64"} {
			kind(spAllowed, "(encoding/binary."+order+")."+f)
		}
	}
	for _, iface := range []string{"ByteOrder", "AppendByteOrder"} {
		for _, f := range []string{"Uint16", "Uint32", "Uint64", "PutUint16", "PutUint32", "PutUint64", "AppendUint16", "AppendUint32", "AppendUint64"} {
			kind(spAllowed, "(encoding/binary."+iface+")."+f)
		}
	}
}

// lookupSpecial returns the built-in behaviour of the function or method
// with the given types.Func full name, if any.
func lookupSpecial(fullName, pkgPath, name string) (special, bool) {
	if sp, ok := specials[fullName]; ok {
		return sp, true
	}
	switch pkgPath {
	case "crypto/subtle":
		return special{kind: spAllowed}, true
	case "math/bits":
		if !strings.HasPrefix(name, "Div") && !strings.HasPrefix(name, "Rem") {
			return special{kind: spAllowed}, true
		}
	}
	return special{}, false
}

// Writer constructors: calls whose result writes to one of their
// arguments, to memory, to a hash, or out of the enclave.
var (
	memoryCtors = set("bytes.NewBuffer", "bytes.NewBufferString")
	hashCtors   = set("crypto/hmac.New",
		"crypto/sha256.New", "crypto/sha256.New224",
		"crypto/sha512.New", "crypto/sha512.New384", "crypto/sha512.New512_224", "crypto/sha512.New512_256",
		"crypto/sha1.New", "crypto/md5.New",
		"crypto/sha3.New224", "crypto/sha3.New256", "crypto/sha3.New384", "crypto/sha3.New512",
		"hash/fnv.New32", "hash/fnv.New32a", "hash/fnv.New64", "hash/fnv.New64a", "hash/fnv.New128", "hash/fnv.New128a",
		"hash/crc32.New", "hash/crc32.NewIEEE", "hash/crc64.New", "hash/adler32.New")
	fileCtors = set("os.Create", "os.OpenFile", "os.Open", "os.NewFile", "os.CreateTemp")
	netCtors  = set("net.Dial", "net.DialTimeout", "net.DialTCP", "net.DialUDP", "net.DialUnix", "net.DialIP",
		"(*net.Dialer).Dial", "(*net.Dialer).DialContext", "(net.Listener).Accept",
		"(*net.TCPListener).Accept", "(*net.TCPListener).AcceptTCP", "(*net.UnixListener).Accept", "(*net.UnixListener).AcceptUnix",
		"net.FileConn")
	// wrapping constructors: the result writes to argument index.
	wrapCtors = map[string]int{
		"bufio.NewWriter": 0, "bufio.NewWriterSize": 0,
		"encoding/json.NewEncoder": 0, "encoding/gob.NewEncoder": 0, "encoding/xml.NewEncoder": 0,
		"encoding/csv.NewWriter": 0, "encoding/hex.NewEncoder": 0, "encoding/hex.Dumper": 0,
		"encoding/base64.NewEncoder": 1, "encoding/base32.NewEncoder": 1, "encoding/ascii85.NewEncoder": 0,
		"compress/gzip.NewWriter": 0, "compress/gzip.NewWriterLevel": 0,
		"compress/zlib.NewWriter": 0, "compress/zlib.NewWriterLevel": 0, "compress/zlib.NewWriterLevelDict": 0,
		"compress/flate.NewWriter": 0, "compress/flate.NewWriterDict": 0, "compress/lzw.NewWriter": 0,
		"text/tabwriter.NewWriter":      0,
		"(*text/tabwriter.Writer).Init": 1,
	}
	// tlsCtors maps TLS connection constructors to their config argument.
	tlsCtors = map[string]int{
		"crypto/tls.Client": 1, "crypto/tls.Server": 1, "crypto/tls.Dial": 2, "crypto/tls.DialWithDialer": 3,
	}
	atlsConfigs = set(
		"(*github.com/confide/confide/attest/atls.Config).ServerConfig",
		"(*github.com/confide/confide/attest/atls.Config).ClientConfig")
)

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}
